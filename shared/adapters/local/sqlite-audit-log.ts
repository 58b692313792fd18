/**
 * SqliteAuditLog: the embedded runtime's AuditLog (ports/audit-log.ts). An append reads the
 * tenant's head, computes the next seq, prevHash and hash (domain/audit-chain.ts) and inserts,
 * all inside one IMMEDIATE transaction: the write lock is taken before the head is read, so two
 * appenders (in this process or another one on the same file) can never both build on the same
 * head. The (tenant_id, seq) primary key is the second line of defence.
 */
import { hkdfSync } from 'node:crypto';
import type { Statement, Transaction } from 'better-sqlite3';
import type { Clock } from '../../domain/clock';
import { GENESIS_HASH, canonicalJson, hashAuditRecord, verifyAuditChain, type AuditChainVerdict } from '../../domain/audit-chain';
import type { AuditEntry, AuditLog, AuditRecord } from '../../ports/audit-log';
import type { Database } from './sqlite-database';

interface AuditRow {
  tenant_id: string;
  seq: number;
  at: string;
  kind: string;
  actor: string;
  correlation_id: string;
  data: string;
  prev_hash: string;
  hash: string;
}

/** The audit chain's HMAC key, derived from the master key (HKDF-SHA256, its own label). */
export function auditChainKey(masterKey: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', masterKey, Buffer.alloc(0), 'certops audit chain v1', 32));
}

export class SqliteAuditLog implements AuditLog {
  private readonly selectHead: Statement;
  private readonly insert: Statement;
  private readonly selectAll: Statement;
  private readonly selectTenants: Statement;
  private readonly appendTx: Transaction<(tenantId: string, entry: AuditEntry) => AuditRecord>;

  /** `key`: the chain's HMAC key (see auditChainKey); without one the chain is plain SHA-256. */
  constructor(
    private readonly db: Database,
    private readonly clock: Clock,
    private readonly key?: Buffer,
  ) {
    this.selectHead = db.prepare(
      'SELECT seq, hash FROM audit_records WHERE tenant_id = ? ORDER BY seq DESC LIMIT 1',
    );
    this.insert = db.prepare(
      `INSERT INTO audit_records (tenant_id, seq, at, kind, actor, correlation_id, data, prev_hash, hash)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.selectAll = db.prepare('SELECT * FROM audit_records WHERE tenant_id = ? ORDER BY seq');
    this.selectTenants = db.prepare('SELECT DISTINCT tenant_id FROM audit_records ORDER BY tenant_id');
    this.appendTx = db.transaction((tenantId: string, entry: AuditEntry) => {
      const head = this.selectHead.get(tenantId) as { seq: number; hash: string } | undefined;
      const content: Omit<AuditRecord, 'hash'> = {
        tenantId,
        seq: (head?.seq ?? 0) + 1,
        at: this.clock.now().toISOString(),
        kind: entry.kind,
        actor: entry.actor,
        correlationId: entry.correlationId,
        data: entry.data,
        prevHash: head?.hash ?? GENESIS_HASH,
      };
      const record: AuditRecord = { ...content, hash: hashAuditRecord(content, this.key) };
      this.insert.run(
        tenantId,
        record.seq,
        record.at,
        record.kind,
        record.actor,
        record.correlationId,
        // Stored canonical: what is read back is exactly what was hashed.
        canonicalJson(record.data),
        record.prevHash,
        record.hash,
      );
      return record;
    });
  }

  async append(tenantId: string, entry: AuditEntry): Promise<AuditRecord> {
    return this.appendTx.immediate(tenantId, entry);
  }

  async list(tenantId: string): Promise<AuditRecord[]> {
    return (this.selectAll.all(tenantId) as AuditRow[]).map(toRecord);
  }

  async listAfter(tenantId: string, seq: number): Promise<AuditRecord[]> {
    return (this.db.prepare('SELECT * FROM audit_records WHERE tenant_id = ? AND seq > ? ORDER BY seq').all(tenantId, seq) as AuditRow[]).map(toRecord);
  }

  async verify(tenantId: string): Promise<AuditChainVerdict> {
    return verifyAuditChain(await this.list(tenantId), this.key);
  }

  async tenants(): Promise<string[]> {
    return (this.selectTenants.all() as Array<{ tenant_id: string }>).map((row) => row.tenant_id);
  }

  async tip(tenantId: string): Promise<{ seq: number; hash: string } | null> {
    return (this.selectHead.get(tenantId) as { seq: number; hash: string } | undefined) ?? null;
  }
}

function toRecord(row: AuditRow): AuditRecord {
  return {
    tenantId: row.tenant_id,
    seq: row.seq,
    at: row.at,
    kind: row.kind,
    actor: row.actor,
    correlationId: row.correlation_id,
    data: JSON.parse(row.data) as Record<string, unknown>,
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}
