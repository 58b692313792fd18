/**
 * BlobAuditHeadLog: the Azure runtime's AuditHeadLog (ports/audit-head-log.ts), append blobs of
 * JSON lines in the `audit-heads` container. The Pulumi program gives the container a time-based
 * immutability (retention) policy that allows protected append writes (infra/audit-heads.ts): a
 * blob can grow by appended blocks but no block can be overwritten and no blob deleted until its
 * retention ends, whoever asks, the Function App's identity included. The heads are thus kept
 * apart from the records (Cosmos DB) and out of reach of whoever can rewrite them.
 *
 * Observes: the segment blobs (`heads-000001.jsonl`, …), their lengths and block counts, their last
 * line. Decides: whether a head follows the log's end, and into which segment it goes.
 *
 * Segments: an append blob holds at most 50,000 blocks and every head is one block, so a segment
 * is closed at MAX_BLOCKS_PER_SEGMENT and the next begins; the chain of `prev` links runs on across
 * segments, so reading them in name order is reading the log.
 *
 * Concurrency: every append is conditional on the blob's length (`appendPosition`, the length read
 * with the end): of two writers that read the same end, the service takes one block and answers the
 * other 412, which becomes HeadLogConflictError (sign again on the new end). A new segment is
 * created only if absent (`If-None-Match: *`), so no writer replaces another's.
 */
import type { ContainerClient } from '@azure/storage-blob';
import { headLine, headLogEnd, headLogEntry, parseHeadLog, type HeadLogEnd, type HeadLogEntry, type SignedHead } from '../../domain/signed-head';
import { HeadLogConflictError, type AuditHeadLog } from '../../ports/audit-head-log';

/** The container the Pulumi program declares with its immutability policy. */
export const AUDIT_HEADS_CONTAINER = 'audit-heads';
const SEGMENT = /^heads-(\d{6})\.jsonl$/;
/** Append blobs take at most 50,000 blocks (Append Block, REST reference); leave room for nothing else. */
export const MAX_BLOCKS_PER_SEGMENT = 49_000;
/** How much of a segment's end is read to find its last line (a head line is ~400 bytes; a Key Vault key id makes it longer). */
const TAIL_BYTES = 16 * 1024;
const PRECONDITION_FAILED = 412;
const CONFLICT = 409;

export function segmentName(n: number): string {
  return `heads-${String(n).padStart(6, '0')}.jsonl`;
}

interface Segment {
  name: string;
  length: number;
}

export interface BlobAuditHeadLogOptions {
  /** Blocks per segment before the next one begins (tests use a handful). */
  maxBlocksPerSegment?: number;
}

export class BlobAuditHeadLog implements AuditHeadLog {
  private readonly maxBlocks: number;
  /** The views' cache: entries of the segments as they were (name, length) when last read. */
  private cache: { segments: Segment[]; entries: HeadLogEntry[] } = { segments: [], entries: [] };

  constructor(
    private readonly container: ContainerClient,
    options: BlobAuditHeadLogOptions = {},
  ) {
    this.maxBlocks = options.maxBlocksPerSegment ?? MAX_BLOCKS_PER_SEGMENT;
  }

  async end(): Promise<HeadLogEnd> {
    return (await this.tail()).end;
  }

  async append(head: SignedHead): Promise<void> {
    const tail = await this.tail();
    if (head.index !== tail.end.index + 1 || head.prev !== tail.end.lineHash) {
      throw new HeadLogConflictError(`the head log ends at entry ${tail.end.index}, so a head for entry ${head.index} does not follow it: another instance appended first; read the end and sign again`);
    }
    let target = tail.segment;
    if (!target || tail.blocks >= this.maxBlocks) {
      target = { name: segmentName((tail.segment ? segmentNumber(tail.segment.name) : 0) + 1), length: 0 };
      try {
        await this.container.getAppendBlobClient(target.name).create({ conditions: { ifNoneMatch: '*' } });
      } catch (err) {
        if (statusOf(err) === CONFLICT || statusOf(err) === PRECONDITION_FAILED) throw new HeadLogConflictError(`segment ${target.name} of the head log was begun by another instance: read the end and sign again`, { cause: err });
        throw err;
      }
    }
    const line = Buffer.from(`${headLine(head)}\n`, 'utf8');
    try {
      await this.container.getAppendBlobClient(target.name).appendBlock(line, line.length, { conditions: { appendPosition: target.length } });
    } catch (err) {
      if (statusOf(err) === PRECONDITION_FAILED) throw new HeadLogConflictError(`another instance appended to ${target.name} of the head log first: read the end and sign again`, { cause: err });
      throw err;
    }
  }

  async read(): Promise<HeadLogEntry[]> {
    const entries: HeadLogEntry[] = [];
    for (const segment of await this.segments()) {
      const text = (await this.container.getBlobClient(segment.name).downloadToBuffer()).toString('utf8');
      entries.push(...parseHeadLog(text, entries.length + 1).entries);
    }
    return entries;
  }

  async heads(tenantId: string): Promise<SignedHead[]> {
    return (await this.cachedEntries()).flatMap((e) => (e.head && e.head.tenantId === tenantId ? [e.head] : []));
  }

  async latest(tenantId: string): Promise<SignedHead | null> {
    const entries = await this.cachedEntries();
    for (let i = entries.length - 1; i >= 0; i--) {
      const head = entries[i].head;
      if (head && head.tenantId === tenantId) return head;
    }
    return null;
  }

  async tenants(): Promise<string[]> {
    return [...new Set((await this.cachedEntries()).flatMap((e) => (e.tenantId ? [e.tenantId] : [])))].sort();
  }

  /** The segments in order, with their lengths (one listing call). */
  private async segments(): Promise<Segment[]> {
    const found: Segment[] = [];
    for await (const blob of this.container.listBlobsFlat({ prefix: 'heads-' })) {
      if (SEGMENT.test(blob.name)) found.push({ name: blob.name, length: blob.properties.contentLength ?? 0 });
    }
    return found.sort((a, b) => a.name.localeCompare(b.name));
  }

  /** The last segment, its block count, and the log's end (from its last line, or every line when that one is malformed). */
  private async tail(): Promise<{ segment: Segment | null; blocks: number; end: HeadLogEnd }> {
    const segments = await this.segments();
    const last = segments.at(-1);
    if (!last) return { segment: null, blocks: 0, end: headLogEnd([]) };
    const properties = await this.container.getAppendBlobClient(last.name).getProperties();
    const segment = { name: last.name, length: properties.contentLength ?? last.length };
    const blocks = properties.blobCommittedBlockCount ?? 0;
    if (segment.length === 0) {
      // A segment begun and never written (a crash between create and append): the end is before it.
      return { segment, blocks, end: headLogEnd(await this.read()) };
    }
    const from = Math.max(0, segment.length - TAIL_BYTES);
    const text = (await this.container.getBlobClient(segment.name).downloadToBuffer(from, segment.length - from)).toString('utf8');
    const lines = text.split('\n');
    const lastLine = lines.at(-1) === '' ? lines.at(-2) : undefined;
    const complete = lastLine !== undefined && (from === 0 || lines.length >= 3); // the line began inside what was read
    const entry = complete ? headLogEntry(lastLine, 0) : null;
    if (entry?.head) return { segment, blocks, end: { index: entry.head.index, lineHash: entry.lineHash } };
    return { segment, blocks, end: headLogEnd(await this.read()) };
  }

  /**
   * The entries, following the log as it grows: segments read before are read again only from
   * where they ended; anything shorter than before, or gone, is read again whole.
   */
  private async cachedEntries(): Promise<HeadLogEntry[]> {
    const now = await this.segments();
    const before = this.cache.segments;
    // Append-only: only the last known segment may have grown, and new ones may follow it.
    const grew = before.every((s, i) => now[i]?.name === s.name && (i === before.length - 1 ? now[i].length >= s.length : now[i].length === s.length));
    if (!grew) this.cache = { segments: [], entries: [] };
    const entries = [...this.cache.entries];
    for (const [i, segment] of now.entries()) {
      const known = this.cache.segments[i]?.length ?? 0;
      if (segment.length === known) continue;
      const text = (await this.container.getBlobClient(segment.name).downloadToBuffer(known, segment.length - known)).toString('utf8');
      entries.push(...parseHeadLog(text, entries.length + 1).entries);
    }
    this.cache = { segments: now, entries };
    return entries;
  }
}

function segmentNumber(name: string): number {
  return Number(SEGMENT.exec(name)?.[1] ?? 0);
}

function statusOf(err: unknown): number | undefined {
  return (err as { statusCode?: number }).statusCode;
}
