/**
 * SqliteCertificateStore: the embedded runtime's CertificateStore (see ports/certificate-store.ts
 * for the contract). Every table is keyed by tenant_id first and every statement binds it, so a
 * record of one tenant can never be read through another tenant's id. Nested records are stored as
 * JSON; the columns beside them exist only for keys and lookups.
 *
 * better-sqlite3 is synchronous: each method runs to completion on the one connection, so
 * "concurrent" calls from one process are serialized; across processes, SQLite's write lock and
 * the conditional statements below keep the contract.
 */
import type { Statement } from 'better-sqlite3';
import { systemClock, type Clock } from '../../domain/clock';
import {
  ConcurrencyError,
  type CertificateStore,
  type ManagedCertificateState,
  type NotificationState,
  type RenewalWindowRecord,
  type ObservationRecord,
} from '../../ports/certificate-store';
import type { Database } from './sqlite-database';

export class SqliteCertificateStore implements CertificateStore {
  private readonly upsertObservation: Statement;
  private readonly selectObservations: Statement;
  private readonly selectObservationsByFingerprint: Statement;
  private readonly selectTenants: Statement;
  private readonly selectManaged: Statement;
  private readonly insertManaged: Statement;
  private readonly updateManaged: Statement;
  private readonly selectNotification: Statement;
  private readonly selectWindow: Statement;
  private readonly upsertWindow: Statement;
  private readonly upsertNotification: Statement;
  private readonly insertClaim: Statement;
  private readonly deleteClaim: Statement;
  private readonly putObservationsTx: (tenantId: string, records: ObservationRecord[]) => void;

  constructor(
    db: Database,
    private readonly clock: Clock = systemClock,
  ) {
    this.upsertObservation = db.prepare(
      `INSERT INTO observations (tenant_id, endpoint_id, address, fingerprint_sha256, observed_at, record)
       VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (tenant_id, endpoint_id, address) DO UPDATE SET
         fingerprint_sha256 = excluded.fingerprint_sha256,
         observed_at = excluded.observed_at,
         record = excluded.record`,
    );
    this.selectObservations = db.prepare(
      'SELECT record FROM observations WHERE tenant_id = ? ORDER BY endpoint_id, address',
    );
    this.selectObservationsByFingerprint = db.prepare(
      'SELECT record FROM observations WHERE tenant_id = ? AND fingerprint_sha256 = ? ORDER BY endpoint_id, address',
    );
    this.selectTenants = db.prepare(
      `SELECT tenant_id FROM observations UNION SELECT tenant_id FROM managed_certificates
       UNION SELECT tenant_id FROM notification_states ORDER BY tenant_id`,
    );
    this.selectManaged = db.prepare(
      'SELECT record FROM managed_certificates WHERE tenant_id = ? AND certificate_id = ?',
    );
    this.insertManaged = db.prepare(
      `INSERT INTO managed_certificates (tenant_id, certificate_id, version, record) VALUES (?, ?, ?, ?)
       ON CONFLICT (tenant_id, certificate_id) DO NOTHING`,
    );
    this.updateManaged = db.prepare(
      `UPDATE managed_certificates SET version = ?, record = ?
       WHERE tenant_id = ? AND certificate_id = ? AND version = ?`,
    );
    this.selectWindow = db.prepare('SELECT record FROM renewal_windows WHERE tenant_id = ? AND cert_id = ?');
    this.upsertWindow = db.prepare(
      `INSERT INTO renewal_windows (tenant_id, cert_id, record) VALUES (?, ?, ?)
       ON CONFLICT (tenant_id, cert_id) DO UPDATE SET record = excluded.record`,
    );
    this.selectNotification = db.prepare(
      'SELECT record FROM notification_states WHERE tenant_id = ? AND subject_key = ?',
    );
    this.upsertNotification = db.prepare(
      `INSERT INTO notification_states (tenant_id, subject_key, record) VALUES (?, ?, ?)
       ON CONFLICT (tenant_id, subject_key) DO UPDATE SET record = excluded.record`,
    );
    this.insertClaim = db.prepare(
      `INSERT INTO claims (tenant_id, claim_key, claimed_at) VALUES (?, ?, ?)
       ON CONFLICT (tenant_id, claim_key) DO NOTHING`,
    );
    this.deleteClaim = db.prepare('DELETE FROM claims WHERE tenant_id = ? AND claim_key = ?');
    // One transaction per batch: a sweep's observations land together or not at all.
    this.putObservationsTx = db.transaction((tenantId: string, records: ObservationRecord[]) => {
      for (const record of records) {
        const stored: ObservationRecord = { ...record, tenantId };
        this.upsertObservation.run(
          tenantId,
          record.endpointId,
          record.address,
          record.certificate?.fingerprintSha256 ?? null,
          record.observedAt,
          JSON.stringify(stored),
        );
      }
    });
  }

  async putObservations(tenantId: string, records: ObservationRecord[]): Promise<void> {
    for (const record of records) {
      if (record.tenantId !== tenantId) {
        throw new Error(
          `observation ${record.endpointId} belongs to tenant ${record.tenantId}, not ${tenantId}: the caller mixed tenants`,
        );
      }
    }
    this.putObservationsTx(tenantId, records);
  }

  async listObservations(tenantId: string): Promise<ObservationRecord[]> {
    return parseAll<ObservationRecord>(this.selectObservations.all(tenantId));
  }

  async findObservationsByFingerprint(tenantId: string, fingerprintSha256: string): Promise<ObservationRecord[]> {
    return parseAll<ObservationRecord>(this.selectObservationsByFingerprint.all(tenantId, fingerprintSha256));
  }

  async listTenants(): Promise<string[]> {
    return (this.selectTenants.all() as Array<{ tenant_id: string }>).map((row) => row.tenant_id);
  }

  async getManagedState(tenantId: string, certificateId: string): Promise<ManagedCertificateState | null> {
    return parseOne<ManagedCertificateState>(this.selectManaged.get(tenantId, certificateId));
  }

  async putManagedState(state: ManagedCertificateState, expectedVersion: number): Promise<ManagedCertificateState> {
    const next: ManagedCertificateState = { ...state, version: expectedVersion + 1 };
    const json = JSON.stringify(next);
    const changes =
      expectedVersion === 0
        ? this.insertManaged.run(state.tenantId, state.certificateId, next.version, json).changes
        : this.updateManaged.run(next.version, json, state.tenantId, state.certificateId, expectedVersion).changes;
    if (changes === 0) {
      const current = await this.getManagedState(state.tenantId, state.certificateId);
      throw new ConcurrencyError(
        `managed certificate ${state.certificateId} of tenant ${state.tenantId} is at version ${current?.version ?? 0}, ` +
          `not ${expectedVersion}: someone else changed it; read it again and retry`,
      );
    }
    return next;
  }

  async getNotificationState(tenantId: string, subjectKey: string): Promise<NotificationState | null> {
    return parseOne<NotificationState>(this.selectNotification.get(tenantId, subjectKey));
  }

  async putNotificationState(state: NotificationState): Promise<void> {
    this.upsertNotification.run(state.tenantId, state.subjectKey, JSON.stringify(state));
  }

  async getRenewalWindow(tenantId: string, certId: string): Promise<RenewalWindowRecord | null> {
    return parseOne<RenewalWindowRecord>(this.selectWindow.get(tenantId, certId));
  }

  async putRenewalWindow(record: RenewalWindowRecord): Promise<void> {
    this.upsertWindow.run(record.tenantId, record.certId, JSON.stringify(record));
  }

  async claim(tenantId: string, key: string): Promise<boolean> {
    // INSERT … DO NOTHING is atomic in SQLite: exactly one caller, in any process, sees a change.
    return this.insertClaim.run(tenantId, key, this.clock.now().toISOString()).changes === 1;
  }

  async releaseClaim(tenantId: string, key: string): Promise<void> {
    this.deleteClaim.run(tenantId, key);
  }
}

function parseAll<T>(rows: unknown[]): T[] {
  return (rows as Array<{ record: string }>).map((row) => JSON.parse(row.record) as T);
}

function parseOne<T>(row: unknown): T | null {
  return row === undefined ? null : (JSON.parse((row as { record: string }).record) as T);
}
