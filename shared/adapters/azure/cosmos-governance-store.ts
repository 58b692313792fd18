/**
 * CosmosGovernanceStore: the GovernanceStore (ports/governance-store.ts) on the Cosmos DB `state`
 * container, partitioned by `/tenantId` (layout.ts), beside the CertificateStore's documents. One
 * document per record: `{ id, tenantId, type, <natural key and query fields>, record }` with `type`
 * one of `gate-state`, `approval`, `snooze`, `digest-item`, and ids from the natural keys
 * (cosmos-document-id.ts). The record is stored whole under `record`, so what is read back is what
 * was written; `status`, `requestedAt` and `queuedAt` are copied beside it for filtering.
 *
 * Tenant isolation, as in cosmos-certificate-store.ts: every point read and write names the
 * tenant's partition key, and every query passes `{ partitionKey: tenantId }` AND filters
 * `c.tenantId = @tenantId` (the test server ignores the header on queries; the filter does not
 * depend on it). No method reads across partitions.
 *
 * Concurrency: gate states and approvals are optimistic on the document's ETag (create for version
 * 0, replace with IfMatch otherwise; 409/412/404 become ConcurrencyError). A digest item is a
 * create (409: already queued, keep the first). Snoozes are upserts. Nothing relies on transactional
 * batch, TTL or the change feed (which the stand-in lacks): `clearDigest` deletes one document at a
 * time, so a crash part-way leaves the rest queued, to be sent again, never lost.
 *
 * Ordering is done here, not with ORDER BY: the lists are small (per tenant), and sorting by the
 * same binary string comparison as SQLite's keeps both adapters returning the same sequence.
 */
import type { Container } from '@azure/cosmos';
import type { ActionType } from '../../domain/gate-policy';
import {
  assertDigestTenant,
  withRecentOutcomes,
  type ApprovalStatus,
  type DigestItem,
  type GateState,
  type GovernanceStore,
  type PendingApproval,
  type Snooze,
} from '../../ports/governance-store';
import { CONFLICT, NOT_FOUND, cosmosStatus, documentId } from './cosmos-document-id';
import { putVersioned, queryInPartition, readInPartition, type StateDocument } from './cosmos-partition';

const GATE = 'gate-state';
const APPROVAL = 'approval';
const SNOOZE = 'snooze';
const DIGEST = 'digest-item';


export class CosmosGovernanceStore implements GovernanceStore {
  /** `state`: the layout's `state` container (partition key `/tenantId`). */
  constructor(private readonly state: Container) {}

  async getGateState(tenantId: string, action: ActionType): Promise<GateState | null> {
    return (await this.read<GateState>(tenantId, GATE, action))?.document.record ?? null;
  }

  async putGateState(state: GateState, expectedVersion: number): Promise<GateState> {
    const next = withRecentOutcomes({ ...state, version: expectedVersion + 1 });
    await putVersioned(
      this.state,
      { id: documentId(GATE, state.action), tenantId: state.tenantId, type: GATE, action: state.action, version: next.version, record: next },
      expectedVersion,
      `gate state ${state.action}`,
    );
    return next;
  }

  async listGateStates(tenantId: string): Promise<GateState[]> {
    return (await queryInPartition<GateState>(this.state, tenantId, GATE)).sort((a, b) => compare(a.action, b.action));
  }

  async getApproval(tenantId: string, approvalId: string): Promise<PendingApproval | null> {
    return (await this.read<PendingApproval>(tenantId, APPROVAL, approvalId))?.document.record ?? null;
  }

  async putApproval(approval: PendingApproval, expectedVersion: number): Promise<PendingApproval> {
    const next: PendingApproval = { ...approval, version: expectedVersion + 1 };
    await putVersioned(
      this.state,
      {
        id: documentId(APPROVAL, approval.approvalId),
        tenantId: approval.tenantId,
        type: APPROVAL,
        approvalId: approval.approvalId,
        status: approval.status,
        requestedAt: approval.requestedAt,
        version: next.version,
        record: next,
      },
      expectedVersion,
      `approval ${approval.approvalId}`,
    );
    return next;
  }

  async listApprovals(tenantId: string, status?: ApprovalStatus): Promise<PendingApproval[]> {
    const approvals =
      status === undefined
        ? await queryInPartition<PendingApproval>(this.state, tenantId, APPROVAL)
        : await queryInPartition<PendingApproval>(this.state, tenantId, APPROVAL, 'AND c.status = @status', [{ name: '@status', value: status }]);
    return approvals.sort((a, b) => compare(a.requestedAt, b.requestedAt) || compare(a.approvalId, b.approvalId));
  }

  async putSnooze(snooze: Snooze): Promise<void> {
    await this.state.items.upsert({
      id: documentId(SNOOZE, snooze.subjectKey),
      tenantId: snooze.tenantId,
      type: SNOOZE,
      subjectKey: snooze.subjectKey,
      record: snooze,
    });
  }

  async getSnooze(tenantId: string, subjectKey: string): Promise<Snooze | null> {
    return (await this.read<Snooze>(tenantId, SNOOZE, subjectKey))?.document.record ?? null;
  }

  async deleteSnooze(tenantId: string, subjectKey: string): Promise<void> {
    await this.deleteIfPresent(tenantId, documentId(SNOOZE, subjectKey));
  }

  async queueDigest(item: DigestItem): Promise<void> {
    assertDigestTenant(item);
    try {
      // A create, not an upsert: a re-queued item keeps its first queuedAt, hence its place.
      await this.state.items.create({
        id: documentId(DIGEST, item.id),
        tenantId: item.tenantId,
        type: DIGEST,
        itemId: item.id,
        queuedAt: item.queuedAt,
        record: item,
      });
    } catch (err) {
      if (cosmosStatus(err) !== CONFLICT) throw err;
    }
  }

  async listDigest(tenantId: string): Promise<DigestItem[]> {
    return (await queryInPartition<DigestItem>(this.state, tenantId, DIGEST)).sort((a, b) => compare(a.queuedAt, b.queuedAt) || compare(a.id, b.id));
  }

  async clearDigest(tenantId: string, ids: string[]): Promise<void> {
    for (const id of ids) await this.deleteIfPresent(tenantId, documentId(DIGEST, id));
  }

  private async deleteIfPresent(tenantId: string, id: string): Promise<void> {
    try {
      await this.state.item(id, tenantId).delete();
    } catch (err) {
      if (cosmosStatus(err) !== NOT_FOUND) throw err;
    }
  }

  private read<T>(tenantId: string, type: string, key: string): Promise<{ document: StateDocument<T>; etag: string } | null> {
    return readInPartition<T>(this.state, tenantId, type, documentId(type, key));
  }
}

/**
 * Code-unit order. SQLite's BINARY collation compares UTF-8 bytes: the two agree on ASCII (ISO
 * timestamps, action names, the ids certops makes) and differ only past U+FFFF.
 */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
