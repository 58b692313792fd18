/**
 * CosmosCertificateStore: the CertificateStore (ports/certificate-store.ts) on the Cosmos DB `state`
 * container, partitioned by `/tenantId` (layout.ts). One document per record, keyed by tenant:
 * `{ id, tenantId, type, <natural key fields>, record }`, with `type` one of `observation`,
 * `managed`, `notification`, `renewal-window`, `claim`, and `tenant` (one marker per tenant, read
 * only by CosmosPlatformAdmin). Ids come from the natural keys (cosmos-document-id.ts). The record
 * is stored whole under `record`, so what is read back is what was written, without Cosmos's
 * system properties.
 *
 * Tenant isolation: every point read and write names the tenant as partition key
 * (`container.item(id, tenantId)`, documents carrying `tenantId`), and every query passes
 * `{ partitionKey: tenantId }` AND filters `c.tenantId = @tenantId`: the service scopes a query by
 * its partition key, the test server does not (it ignores the header on queries), and the filter
 * keeps isolation true on both. The one cross-partition read is `listTenants`, delegated to
 * CosmosPlatformAdmin.
 *
 * Concurrency: `putManagedState` is optimistic on the document's ETag (create for version 0,
 * replace with IfMatch otherwise; 409/412 become ConcurrencyError); `claim` is a create (409 means
 * claimed). Other writes are upserts: idempotent, last writer wins, as in the SQLite store.
 *
 * ## What production relies on that the test server lacks, and how each is covered
 * The stand-in (@vercel/cosmosdb-server) has no atomic transactional batch, no TTL expiry, no
 * change feed after the first read, and does not scope queries by the partition key header.
 * - Atomic batch: NOT relied on. Every invariant rests on a single-document operation the server
 *   does implement and the tests exercise with the real SDK: create (409), replace with IfMatch
 *   (412), upsert. A sweep's `putObservations` is therefore not atomic (the SQLite store's is):
 *   a failure part-way leaves some observations of the new sweep beside older ones; each is whole,
 *   and re-running the batch (the message is redelivered) converges, because upserts are
 *   idempotent. The audit log's record-then-head append (cosmos-audit-log.ts) was designed for no
 *   batch: the record's create is the commit, the head is a hint repaired by reading forward.
 * - TTL: NOT relied on. Claims, notification states and windows live until deleted, as in SQLite.
 *   The `state` container must not get a `defaultTtl` (infra/): an expiring claim would let a
 *   redelivered message act twice. Nothing here proves the service honours that setting.
 * - Change feed: NOT used by these adapters. Anything built on the change feed of `state` or
 *   `audit` (projections, exports) is untested by this stand-in and needs the emulator or a real
 *   account.
 * - Partition scoping of queries: the service's part is not proven here (the server ignores it);
 *   the `c.tenantId` filter is, and the tests record that every request carries the tenant's
 *   partition key header, except the SDK's query-plan requests, which carry none by design and
 *   return a plan, not documents, from the service.
 */
import type { Container } from '@azure/cosmos';
import { systemClock, type Clock } from '../../domain/clock';
import {
  type CertificateStore,
  type ManagedCertificateState,
  type NotificationState,
  type ObservationRecord,
  type RenewalWindowRecord,
} from '../../ports/certificate-store';
import { CONFLICT, NOT_FOUND, cosmosStatus, documentId } from './cosmos-document-id';
import { CosmosPlatformAdmin, TENANT_MARKER_TYPE } from './cosmos-platform-admin';
import { putVersioned, queryInPartition, readInPartition, type StateDocument } from './cosmos-partition';

/** Observations written at once: a sweep's batch, bounded so that one tenant does not flood the client. */
const OBSERVATION_WRITE_CONCURRENCY = 8;


export interface CosmosCertificateStoreOptions {
  clock?: Clock;
  /** The cross-partition reader `listTenants` delegates to; by default one over the same container. */
  platformAdmin?: CosmosPlatformAdmin;
}

export class CosmosCertificateStore implements CertificateStore {
  private readonly clock: Clock;
  private readonly platformAdmin: CosmosPlatformAdmin;
  /** Tenants whose marker this instance has seen written: saves a request per later write. */
  private readonly markedTenants = new Set<string>();

  /** `state`: the layout's `state` container (partition key `/tenantId`). */
  constructor(
    private readonly state: Container,
    options: CosmosCertificateStoreOptions = {},
  ) {
    this.clock = options.clock ?? systemClock;
    this.platformAdmin = options.platformAdmin ?? new CosmosPlatformAdmin({ state });
  }

  async putObservations(tenantId: string, records: ObservationRecord[]): Promise<void> {
    for (const record of records) {
      if (record.tenantId !== tenantId) {
        throw new Error(
          `observation ${record.endpointId} belongs to tenant ${record.tenantId}, not ${tenantId}: the caller mixed tenants`,
        );
      }
    }
    if (records.length === 0) return;
    await this.markTenant(tenantId);
    const queue = [...records];
    const worker = async (): Promise<void> => {
      for (let record = queue.shift(); record; record = queue.shift()) {
        await this.state.items.upsert({
          id: documentId('observation', record.endpointId, record.address),
          tenantId,
          type: 'observation',
          endpointId: record.endpointId,
          address: record.address,
          fingerprintSha256: record.certificate?.fingerprintSha256 ?? null,
          record,
        });
      }
    };
    await Promise.all(Array.from({ length: Math.min(OBSERVATION_WRITE_CONCURRENCY, records.length) }, worker));
  }

  async listObservations(tenantId: string): Promise<ObservationRecord[]> {
    return sortObservations(await this.query<ObservationRecord>(tenantId, 'observation'));
  }

  async findObservationsByFingerprint(tenantId: string, fingerprintSha256: string): Promise<ObservationRecord[]> {
    return sortObservations(
      await this.query<ObservationRecord>(tenantId, 'observation', 'AND c.fingerprintSha256 = @fingerprint', [
        { name: '@fingerprint', value: fingerprintSha256 },
      ]),
    );
  }

  /**
   * Every tenant with inventory or state. A platform-admin read across partitions, delegated to
   * CosmosPlatformAdmin.listTenants: only operator paths that act for no single tenant may call it
   * (the scheduled sweep's fan-out, reports); code acting for a tenant must not.
   */
  async listTenants(): Promise<string[]> {
    return this.platformAdmin.listTenants();
  }

  async getManagedState(tenantId: string, certificateId: string): Promise<ManagedCertificateState | null> {
    return (await this.read<ManagedCertificateState>(tenantId, 'managed', certificateId))?.document.record ?? null;
  }

  async putManagedState(state: ManagedCertificateState, expectedVersion: number): Promise<ManagedCertificateState> {
    const next: ManagedCertificateState = { ...state, version: expectedVersion + 1 };
    const { tenantId, certificateId } = state;
    const document: StateDocument<ManagedCertificateState> & { certificateId: string; version: number } = {
      id: documentId('managed', certificateId),
      tenantId,
      type: 'managed',
      certificateId,
      version: next.version,
      record: next,
    };
    await this.markTenant(tenantId);
    await putVersioned(this.state, document, expectedVersion, `managed certificate ${certificateId}`);
    return next;
  }

  async getNotificationState(tenantId: string, subjectKey: string): Promise<NotificationState | null> {
    return (await this.read<NotificationState>(tenantId, 'notification', subjectKey))?.document.record ?? null;
  }

  async putNotificationState(state: NotificationState): Promise<void> {
    await this.markTenant(state.tenantId);
    await this.state.items.upsert({
      id: documentId('notification', state.subjectKey),
      tenantId: state.tenantId,
      type: 'notification',
      subjectKey: state.subjectKey,
      record: state,
    });
  }

  async getRenewalWindow(tenantId: string, certId: string): Promise<RenewalWindowRecord | null> {
    return (await this.read<RenewalWindowRecord>(tenantId, 'renewal-window', certId))?.document.record ?? null;
  }

  async putRenewalWindow(record: RenewalWindowRecord): Promise<void> {
    await this.state.items.upsert({
      id: documentId('renewal-window', record.certId),
      tenantId: record.tenantId,
      type: 'renewal-window',
      certId: record.certId,
      record,
    });
  }

  async claim(tenantId: string, key: string): Promise<boolean> {
    try {
      // A create is atomic in its partition: of any number of racing callers, one gets 201.
      await this.state.items.create({
        id: documentId('claim', key),
        tenantId,
        type: 'claim',
        key,
        record: { claimedAt: this.clock.now().toISOString() },
      });
      return true;
    } catch (err) {
      if (cosmosStatus(err) === CONFLICT) return false;
      throw err;
    }
  }

  async releaseClaim(tenantId: string, key: string): Promise<void> {
    try {
      await this.state.item(documentId('claim', key), tenantId).delete();
    } catch (err) {
      if (cosmosStatus(err) !== NOT_FOUND) throw err;
    }
  }

  /** Writes the tenant's marker (for CosmosPlatformAdmin) before its first record: a create, so it is written once. */
  private async markTenant(tenantId: string): Promise<void> {
    if (this.markedTenants.has(tenantId)) return;
    try {
      await this.state.items.create({ id: TENANT_MARKER_TYPE, tenantId, type: TENANT_MARKER_TYPE, since: this.clock.now().toISOString() });
    } catch (err) {
      if (cosmosStatus(err) !== CONFLICT) throw err;
    }
    this.markedTenants.add(tenantId);
  }

  /** Point read in the tenant's partition by the record's natural key. */
  private read<T>(tenantId: string, type: string, key: string): Promise<{ document: StateDocument<T>; etag: string } | null> {
    return readInPartition<T>(this.state, tenantId, type, documentId(type, key));
  }

  private query<T>(tenantId: string, type: string, condition = '', parameters: Array<{ name: string; value: string }> = []): Promise<T[]> {
    return queryInPartition<T>(this.state, tenantId, type, condition, parameters);
  }
}

/** Ordered as the SQLite store orders them: by endpoint, then address. */
function sortObservations(records: ObservationRecord[]): ObservationRecord[] {
  const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
  return records.sort((a, b) => compare(a.endpointId, b.endpointId) || compare(a.address, b.address));
}
