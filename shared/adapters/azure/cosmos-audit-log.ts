/**
 * CosmosAuditLog: the AuditLog (ports/audit-log.ts) on the Cosmos DB `audit` container,
 * partitioned by `/tenantId`. Hashing and verification are the SQLite log's
 * (domain/audit-chain.ts, HMAC-SHA256 under the key passed in), so a chain verifies the same
 * wherever it is stored.
 *
 * Documents of a tenant's partition:
 * - records `{ id: '<seq, 12 digits>', tenantId, type: 'record', seq, at, kind, actor,
 *   correlationId, data, prevHash, hash }`, created and never changed;
 * - one head `{ id: 'head', tenantId, type: 'head', seq, hash }`: where the chain ended when last
 *   written, updated with IfMatch and only forward.
 *
 * How an append stays dense and linked without a transaction (the test server has no atomic
 * batch, and none is needed): the record's create IS the commit. A record's id is its seq, and a
 * create of an id that exists fails with 409, so of two appenders (in any processes) building on
 * the same tip exactly one gets seq n; the other reads the winner's record n and builds n + 1 on
 * its hash. The tip is found by reading the head and then reading forward, record by record, while
 * the next seq exists: so a head left behind (a crash between the record's create and the head's
 * update, or an appender that is slower to update it) is repaired by the next append, which
 * writes the head forward. Records are never written past a missing one (n is created only after
 * n - 1 was read), and nothing deletes, so seqs have no gaps. Within one instance, appends of a
 * tenant are queued, so the races are between instances only.
 *
 * Signed heads are not kept here (they were, as a `signed-head` document per partition, which
 * anyone able to write the container could replace): they go to the head log, an immutable Blob
 * container (adapters/azure/blob-audit-head-log.ts). Old `signed-head` documents are ignored.
 *
 * `verify` also compares the head with the records: records deleted from the end of the chain,
 * which the chain alone cannot show (domain/audit-chain.ts), are named when the head is ahead of
 * them, and a chain rewritten (with the key) from some record on is named when the record at the
 * head's seq is not the one the head recorded; unless whoever did it rewrote the head too.
 */
import { performance } from 'node:perf_hooks';
import type { Container } from '@azure/cosmos';
import type { Clock } from '../../domain/clock';
import {
  GENESIS_HASH,
  canonicalJson,
  hashAuditRecord,
  verifyAuditChain,
  type AuditChainVerdict,
} from '../../domain/audit-chain';
import { RetryableError } from '../../domain/errors';
import type { AuditEntry, AuditLog, AuditRecord } from '../../ports/audit-log';
import { CONFLICT, NOT_FOUND, PRECONDITION_FAILED, cosmosStatus } from './cosmos-document-id';
import { AUDIT_HEAD_TYPE, CosmosPlatformAdmin } from './cosmos-platform-admin';

const HEAD_ID = 'head';
const RECORD_TYPE = 'record';
/**
 * How long one append may keep losing races before giving up (RetryableError → redelivery). Each
 * loss means another appender committed, so the log as a whole progresses; but progress is not
 * fair: while another instance appends a burst back to back, its next create tends to arrive
 * before ours (on the in-process test server, always), so a loser may wait for the burst to end.
 * Measured on the test server: a 100-append burst from the other instance takes about 0.3 s.
 */
const MAX_APPEND_LOSING_MS = 10_000;
/** Attempts at moving the head forward before leaving it to the next append's repair. */
const MAX_HEAD_ATTEMPTS = 20;

interface Tip {
  seq: number;
  hash: string;
}

interface HeadDocument extends Tip {
  id: string;
  tenantId: string;
  type: string;
  _etag?: string;
}

type RecordDocument = AuditRecord & { id: string; type: string };

export interface CosmosAuditLogOptions {
  /** The cross-partition reader `tenants` delegates to; by default one over the same container. */
  platformAdmin?: CosmosPlatformAdmin;
}

/** The record's document id: its seq, zero-padded so that ids sort as seqs do. */
export function auditRecordId(seq: number): string {
  return String(seq).padStart(12, '0');
}

export class CosmosAuditLog implements AuditLog {
  private readonly platformAdmin: CosmosPlatformAdmin;
  /** Per tenant: the last tip this instance knows (a record that exists) and the head's ETag. */
  private readonly known = new Map<string, { tip: Tip; headEtag: string | null }>();
  /** Per tenant: the tail of this instance's append queue. */
  private readonly queues = new Map<string, Promise<unknown>>();

  /** `key`: the chain's HMAC key (adapters/local/sqlite-audit-log.ts auditChainKey); without one, plain SHA-256. */
  constructor(
    private readonly audit: Container,
    private readonly clock: Clock,
    private readonly key?: Buffer,
    options: CosmosAuditLogOptions = {},
  ) {
    this.platformAdmin = options.platformAdmin ?? new CosmosPlatformAdmin({ audit });
  }

  async append(tenantId: string, entry: AuditEntry): Promise<AuditRecord> {
    // Refuse what cannot be hashed before anything is written (the head included).
    canonicalJson(entry.data);
    const previous = this.queues.get(tenantId) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(() => this.appendNow(tenantId, entry));
    this.queues.set(tenantId, next);
    try {
      return await next;
    } finally {
      if (this.queues.get(tenantId) === next) this.queues.delete(tenantId);
    }
  }

  async list(tenantId: string): Promise<AuditRecord[]> {
    return this.listAfter(tenantId, 0);
  }

  async listAfter(tenantId: string, seq: number): Promise<AuditRecord[]> {
    const { resources } = await this.audit.items
      .query<RecordDocument>(
        {
          query: 'SELECT * FROM c WHERE c.tenantId = @tenantId AND c.type = @type AND c.seq > @seq',
          parameters: [{ name: '@tenantId', value: tenantId }, { name: '@type', value: RECORD_TYPE }, { name: '@seq', value: seq }],
        },
        { partitionKey: tenantId },
      )
      .fetchAll();
    return resources.map(toRecord).sort((a, b) => a.seq - b.seq);
  }

  async verify(tenantId: string): Promise<AuditChainVerdict> {
    // The head first: it only moves after its record exists, so every record it names is in the
    // list read after it, even while another instance appends (the other order reports a healthy
    // chain as truncated).
    const head = await this.readHead(tenantId);
    const records = await this.list(tenantId);
    const verdict = verifyAuditChain(records, this.key);
    if (!verdict.ok) return verdict;
    const last = records.at(-1) ?? { seq: 0, hash: GENESIS_HASH };
    if (head && head.seq > last.seq) {
      return {
        ok: false,
        seq: last.seq + 1,
        problem: 'sequence-gap',
        message: `record ${last.seq + 1} of tenant ${tenantId} is missing: the chain's head says it reached record ${head.seq}, so records were deleted from its end`,
      };
    }
    // The chain verified densely from 1, so record n sits at index n - 1.
    const recordAtHead = head && head.seq > 0 ? records[head.seq - 1] : undefined;
    if (head && recordAtHead && recordAtHead.hash !== head.hash) {
      return {
        ok: false,
        seq: head.seq,
        problem: 'broken-link',
        message: `record ${head.seq} of tenant ${tenantId} is not the one the chain's head recorded: the chain was rewritten from there`,
      };
    }
    return verdict;
  }

  /**
   * Tenants with an audit chain. A platform-admin read across partitions, delegated to
   * CosmosPlatformAdmin.auditTenants: only operator reports across tenants may call it.
   */
  async tenants(): Promise<string[]> {
    return this.platformAdmin.auditTenants();
  }

  private async appendNow(tenantId: string, entry: AuditEntry): Promise<AuditRecord> {
    let known = this.known.get(tenantId) ?? (await this.findTip(tenantId));
    const giveUpAt = performance.now() + MAX_APPEND_LOSING_MS;
    while (performance.now() < giveUpAt) {
      const content: Omit<AuditRecord, 'hash'> = {
        tenantId,
        seq: known.tip.seq + 1,
        at: this.clock.now().toISOString(),
        kind: entry.kind,
        actor: entry.actor,
        correlationId: entry.correlationId,
        data: entry.data,
        prevHash: known.tip.hash,
      };
      const record: AuditRecord = { ...content, hash: hashAuditRecord(content, this.key) };
      try {
        await this.audit.items.create<RecordDocument>({ id: auditRecordId(record.seq), type: RECORD_TYPE, ...record });
      } catch (err) {
        if (cosmosStatus(err) !== CONFLICT) throw err;
        // Someone else took this seq: build straight on their record. One read, not a walk from the
        // head: a loser that needed more round trips than the winner's next append would lose again.
        known = await this.afterLostRace(tenantId, record.seq, known);
        continue;
      }
      const headEtag = await this.advanceHead(tenantId, record, known.headEtag);
      this.known.set(tenantId, { tip: { seq: record.seq, hash: record.hash }, headEtag });
      return record;
    }
    this.known.delete(tenantId);
    throw new RetryableError(
      `audit append for tenant ${tenantId} kept losing races to other appenders for ${MAX_APPEND_LOSING_MS} ms: retry later`,
    );
  }

  /** The record that beat us to `seq`, as the new tip (or a walk from the head, should it be gone). */
  private async afterLostRace(
    tenantId: string,
    seq: number,
    known: { tip: Tip; headEtag: string | null },
  ): Promise<{ tip: Tip; headEtag: string | null }> {
    const response = await this.audit.item(auditRecordId(seq), tenantId).read<RecordDocument>();
    if (response.statusCode === NOT_FOUND || !response.resource) return this.findTip(tenantId, known.tip);
    return { tip: { seq, hash: response.resource.hash }, headEtag: known.headEtag };
  }

  /**
   * The last record of the chain: from the head (created at genesis if absent) or `from` (a record
   * known to exist), whichever is further, then forward while the next record exists.
   */
  private async findTip(tenantId: string, from?: Tip): Promise<{ tip: Tip; headEtag: string | null }> {
    let head = await this.readHead(tenantId);
    if (!head) {
      try {
        await this.audit.items.create<HeadDocument>({ id: HEAD_ID, tenantId, type: AUDIT_HEAD_TYPE, seq: 0, hash: GENESIS_HASH });
      } catch (err) {
        if (cosmosStatus(err) !== CONFLICT) throw err;
      }
      head = await this.readHead(tenantId);
      if (!head) throw new RetryableError(`the audit head of tenant ${tenantId} vanished right after it was created: retry`);
    }
    let tip: Tip = from && from.seq > head.seq ? from : { seq: head.seq, hash: head.hash };
    for (;;) {
      const response = await this.audit.item(auditRecordId(tip.seq + 1), tenantId).read<RecordDocument>();
      if (response.statusCode === NOT_FOUND || !response.resource) break;
      tip = { seq: response.resource.seq, hash: response.resource.hash };
    }
    return { tip, headEtag: head._etag ?? null };
  }

  /** Moves the head to `record` unless it is already there or further; returns the head's new ETag. */
  private async advanceHead(tenantId: string, record: AuditRecord, etag: string | null): Promise<string | null> {
    const next: HeadDocument = { id: HEAD_ID, tenantId, type: AUDIT_HEAD_TYPE, seq: record.seq, hash: record.hash };
    for (let attempt = 1; attempt <= MAX_HEAD_ATTEMPTS; attempt++) {
      if (etag) {
        try {
          const { resource } = await this.audit
            .item(HEAD_ID, tenantId)
            .replace<HeadDocument>(next, { accessCondition: { type: 'IfMatch', condition: etag } });
          return resource?._etag ?? null;
        } catch (err) {
          const status = cosmosStatus(err);
          if (status !== PRECONDITION_FAILED && status !== NOT_FOUND) throw err;
        }
      }
      const head = await this.readHead(tenantId);
      if (head && head.seq >= record.seq) return head._etag ?? null;
      etag = head?._etag ?? null;
      if (!head) {
        // The head is created before any record; it can only be missing if someone deleted it.
        try {
          const { resource } = await this.audit.items.create<HeadDocument>(next);
          return resource?._etag ?? null;
        } catch (err) {
          if (cosmosStatus(err) !== CONFLICT) throw err;
        }
      }
    }
    // The record is committed; a head left behind is repaired by the next append.
    return null;
  }

  /**
   * The head document: where the last append ended. A crash between a record's create and the
   * head's update leaves it one record behind until the next append repairs it, so a head signed
   * from it may name one record less than exist (never one that does not).
   */
  async tip(tenantId: string): Promise<{ seq: number; hash: string } | null> {
    const head = await this.readHead(tenantId);
    return head && head.seq > 0 ? { seq: head.seq, hash: head.hash } : null;
  }

  private async readHead(tenantId: string): Promise<HeadDocument | null> {
    const response = await this.audit.item(HEAD_ID, tenantId).read<HeadDocument>();
    return response.statusCode === NOT_FOUND || !response.resource ? null : response.resource;
  }
}

function toRecord(document: RecordDocument): AuditRecord {
  return {
    tenantId: document.tenantId,
    seq: document.seq,
    at: document.at,
    kind: document.kind,
    actor: document.actor,
    correlationId: document.correlationId,
    data: document.data,
    prevHash: document.prevHash,
    hash: document.hash,
  };
}
