/**
 * SqliteGovernanceStore: the embedded runtime's GovernanceStore (see ports/governance-store.ts for
 * the contract), on the tables of migration 4 (sqlite-database.ts). Every table is keyed by
 * tenant_id first and every statement binds it. Records are stored whole as JSON; the columns
 * beside them exist only for keys, versions and ordering.
 *
 * Optimistic writes are single conditional statements (INSERT … DO NOTHING for version 0, UPDATE …
 * WHERE version = ? otherwise): SQLite's write lock makes each atomic across connections and
 * processes, so of two writers from the same version exactly one changes a row.
 */
import type { Statement } from 'better-sqlite3';
import type { ActionType } from '../../domain/gate-policy';
import {
  ConcurrencyError,
  assertDigestTenant,
  withRecentOutcomes,
  type ApprovalStatus,
  type DigestItem,
  type GateState,
  type GovernanceStore,
  type PendingApproval,
  type Snooze,
} from '../../ports/governance-store';
import type { Database } from './sqlite-database';

export class SqliteGovernanceStore implements GovernanceStore {
  private readonly selectGate: Statement;
  private readonly selectGates: Statement;
  private readonly insertGate: Statement;
  private readonly updateGate: Statement;
  private readonly selectApproval: Statement;
  private readonly selectApprovals: Statement;
  private readonly selectApprovalsByStatus: Statement;
  private readonly insertApproval: Statement;
  private readonly updateApproval: Statement;
  private readonly upsertSnooze: Statement;
  private readonly selectSnooze: Statement;
  private readonly removeSnooze: Statement;
  private readonly insertDigest: Statement;
  private readonly selectDigest: Statement;
  private readonly clearDigestTx: (tenantId: string, ids: string[]) => void;

  constructor(db: Database) {
    this.selectGate = db.prepare('SELECT record FROM gate_states WHERE tenant_id = ? AND action = ?');
    this.selectGates = db.prepare('SELECT record FROM gate_states WHERE tenant_id = ? ORDER BY action');
    this.insertGate = db.prepare(
      `INSERT INTO gate_states (tenant_id, action, version, record) VALUES (?, ?, ?, ?)
       ON CONFLICT (tenant_id, action) DO NOTHING`,
    );
    this.updateGate = db.prepare(
      'UPDATE gate_states SET version = ?, record = ? WHERE tenant_id = ? AND action = ? AND version = ?',
    );
    this.selectApproval = db.prepare('SELECT record FROM approvals WHERE tenant_id = ? AND approval_id = ?');
    this.selectApprovals = db.prepare(
      'SELECT record FROM approvals WHERE tenant_id = ? ORDER BY requested_at, approval_id',
    );
    this.selectApprovalsByStatus = db.prepare(
      'SELECT record FROM approvals WHERE tenant_id = ? AND status = ? ORDER BY requested_at, approval_id',
    );
    this.insertApproval = db.prepare(
      `INSERT INTO approvals (tenant_id, approval_id, status, requested_at, version, record) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (tenant_id, approval_id) DO NOTHING`,
    );
    this.updateApproval = db.prepare(
      `UPDATE approvals SET status = ?, requested_at = ?, version = ?, record = ?
       WHERE tenant_id = ? AND approval_id = ? AND version = ?`,
    );
    this.upsertSnooze = db.prepare(
      `INSERT INTO snoozes (tenant_id, subject_key, record) VALUES (?, ?, ?)
       ON CONFLICT (tenant_id, subject_key) DO UPDATE SET record = excluded.record`,
    );
    this.selectSnooze = db.prepare('SELECT record FROM snoozes WHERE tenant_id = ? AND subject_key = ?');
    this.removeSnooze = db.prepare('DELETE FROM snoozes WHERE tenant_id = ? AND subject_key = ?');
    // DO NOTHING, not DO UPDATE: a re-queued item keeps its first queuedAt, hence its place.
    this.insertDigest = db.prepare(
      `INSERT INTO digest_items (tenant_id, item_id, queued_at, record) VALUES (?, ?, ?, ?)
       ON CONFLICT (tenant_id, item_id) DO NOTHING`,
    );
    this.selectDigest = db.prepare(
      'SELECT record FROM digest_items WHERE tenant_id = ? ORDER BY queued_at, item_id',
    );
    const deleteDigest = db.prepare('DELETE FROM digest_items WHERE tenant_id = ? AND item_id = ?');
    this.clearDigestTx = db.transaction((tenantId: string, ids: string[]) => {
      for (const id of ids) deleteDigest.run(tenantId, id);
    });
  }

  async getGateState(tenantId: string, action: ActionType): Promise<GateState | null> {
    return parseOne<GateState>(this.selectGate.get(tenantId, action));
  }

  async putGateState(state: GateState, expectedVersion: number): Promise<GateState> {
    const next = withRecentOutcomes({ ...state, version: expectedVersion + 1 });
    const json = JSON.stringify(next);
    const changes =
      expectedVersion === 0
        ? this.insertGate.run(state.tenantId, state.action, next.version, json).changes
        : this.updateGate.run(next.version, json, state.tenantId, state.action, expectedVersion).changes;
    if (changes === 0) {
      const current = await this.getGateState(state.tenantId, state.action);
      throw staleVersion(`gate state ${state.action}`, state.tenantId, current?.version ?? 0, expectedVersion);
    }
    return next;
  }

  async listGateStates(tenantId: string): Promise<GateState[]> {
    return parseAll<GateState>(this.selectGates.all(tenantId));
  }

  async getApproval(tenantId: string, approvalId: string): Promise<PendingApproval | null> {
    return parseOne<PendingApproval>(this.selectApproval.get(tenantId, approvalId));
  }

  async putApproval(approval: PendingApproval, expectedVersion: number): Promise<PendingApproval> {
    const next: PendingApproval = { ...approval, version: expectedVersion + 1 };
    const json = JSON.stringify(next);
    const { tenantId, approvalId, status, requestedAt } = approval;
    const changes =
      expectedVersion === 0
        ? this.insertApproval.run(tenantId, approvalId, status, requestedAt, next.version, json).changes
        : this.updateApproval.run(status, requestedAt, next.version, json, tenantId, approvalId, expectedVersion).changes;
    if (changes === 0) {
      const current = await this.getApproval(tenantId, approvalId);
      throw staleVersion(`approval ${approvalId}`, tenantId, current?.version ?? 0, expectedVersion);
    }
    return next;
  }

  async listApprovals(tenantId: string, status?: ApprovalStatus): Promise<PendingApproval[]> {
    const rows = status === undefined ? this.selectApprovals.all(tenantId) : this.selectApprovalsByStatus.all(tenantId, status);
    return parseAll<PendingApproval>(rows);
  }

  async putSnooze(snooze: Snooze): Promise<void> {
    this.upsertSnooze.run(snooze.tenantId, snooze.subjectKey, JSON.stringify(snooze));
  }

  async getSnooze(tenantId: string, subjectKey: string): Promise<Snooze | null> {
    return parseOne<Snooze>(this.selectSnooze.get(tenantId, subjectKey));
  }

  async deleteSnooze(tenantId: string, subjectKey: string): Promise<void> {
    this.removeSnooze.run(tenantId, subjectKey);
  }

  async queueDigest(item: DigestItem): Promise<void> {
    assertDigestTenant(item);
    this.insertDigest.run(item.tenantId, item.id, item.queuedAt, JSON.stringify(item));
  }

  async listDigest(tenantId: string): Promise<DigestItem[]> {
    return parseAll<DigestItem>(this.selectDigest.all(tenantId));
  }

  async clearDigest(tenantId: string, ids: string[]): Promise<void> {
    this.clearDigestTx(tenantId, ids);
  }
}

function staleVersion(what: string, tenantId: string, current: number, expected: number): ConcurrencyError {
  return new ConcurrencyError(
    `${what} of tenant ${tenantId} is at version ${current}, not ${expected}: someone else changed it; read it again and retry`,
  );
}

function parseAll<T>(rows: unknown[]): T[] {
  return (rows as Array<{ record: string }>).map((row) => JSON.parse(row.record) as T);
}

function parseOne<T>(row: unknown): T | null {
  return row === undefined ? null : (JSON.parse((row as { record: string }).record) as T);
}
