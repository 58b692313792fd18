/**
 * The ACME order journal in the embedded store: one row per (tenant, certificate), written
 * before the issuer goes on (SQLite commits before `run` returns), so an order survives a crash
 * of the process and the next issuance continues it. Holds no secret (see the port).
 */
import type { Statement } from 'better-sqlite3';
import type { AcmeOrderJournal, AcmeOrderJournalKey, JournaledAcmeOrder } from '../../ports/acme-order-journal';
import type { Database } from './sqlite-database';

export class SqliteAcmeOrderJournal implements AcmeOrderJournal {
  private readonly upsert: Statement;
  private readonly select: Statement;
  private readonly remove: Statement;

  constructor(db: Database) {
    this.upsert = db.prepare(
      `INSERT INTO acme_orders (tenant_id, certificate_id, record) VALUES (?, ?, ?)
       ON CONFLICT (tenant_id, certificate_id) DO UPDATE SET record = excluded.record`,
    );
    this.select = db.prepare('SELECT record FROM acme_orders WHERE tenant_id = ? AND certificate_id = ?');
    this.remove = db.prepare('DELETE FROM acme_orders WHERE tenant_id = ? AND certificate_id = ?');
  }

  async get(key: AcmeOrderJournalKey): Promise<JournaledAcmeOrder | null> {
    const row = this.select.get(key.tenantId, key.certificateId) as { record: string } | undefined;
    return row ? (JSON.parse(row.record) as JournaledAcmeOrder) : null;
  }

  async save(entry: JournaledAcmeOrder): Promise<void> {
    this.upsert.run(entry.tenantId, entry.certificateId, JSON.stringify(entry));
  }

  async clear(key: AcmeOrderJournalKey): Promise<void> {
    this.remove.run(key.tenantId, key.certificateId);
  }
}
