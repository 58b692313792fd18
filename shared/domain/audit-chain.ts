/**
 * The audit log's hash chain: each record's hash covers its content and the previous record's
 * hash, so altering, deleting or reordering any record breaks every later link (the same idea as
 * Certificate Transparency's Merkle tree, RFC 9162, in its simplest linear form).
 *
 * Hashes are taken over a canonical JSON encoding (RFC 8785, JSON Canonicalization Scheme: sorted
 * keys, no whitespace, ECMAScript number and string serialization), so a record read back from any
 * store, with its keys in any order, hashes the same.
 *
 * What the chain cannot show by itself: records removed from the END of a chain (truncation).
 * A verifier that must detect that compares the head with a hash it kept elsewhere: the signed
 * heads of the head log (domain/signed-head.ts), and a head a witness kept.
 */
import { createHash, createHmac } from 'node:crypto';
import type { AuditRecord } from '../ports/audit-log';

/** The prevHash of every tenant's first record. */
export const GENESIS_HASH = '0'.repeat(64);

/**
 * RFC 8785 (JCS) canonical JSON of `value`. Objects with a `toJSON` method are encoded as its
 * result, as JSON.stringify would. Throws on what JSON cannot carry faithfully: `undefined`
 * (JSON.stringify would silently drop it, and the hash would cover less than the caller thought),
 * non-finite numbers, bigints, functions and symbols.
 */
export function canonicalJson(value: unknown): string {
  return encode(value, '$');
}

function encode(value: unknown, at: string): string {
  if (value === null) return 'null';
  if (typeof value === 'object' && typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    return encode((value as { toJSON(): unknown }).toJSON(), at);
  }
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'string':
      // RFC 8785 §3.2.2.2: JSON.stringify's escaping is exactly JCS's.
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`cannot canonicalize ${at}: ${value} is not a JSON number`);
      // RFC 8785 §3.2.2.3: the ECMAScript Number-to-String serialization (and -0 becomes 0).
      return JSON.stringify(value);
    case 'object': {
      if (Array.isArray(value)) return `[${value.map((item, i) => encode(item, `${at}[${i}]`)).join(',')}]`;
      // RFC 8785 §3.2.3: keys sorted by their UTF-16 code units, which is JavaScript's default sort.
      const keys = Object.keys(value as object).sort();
      const members = keys.map(
        (key) => `${JSON.stringify(key)}:${encode((value as Record<string, unknown>)[key], `${at}.${key}`)}`,
      );
      return `{${members.join(',')}}`;
    }
    default:
      throw new TypeError(`cannot canonicalize ${at}: a ${typeof value} is not JSON`);
  }
}

/**
 * The record's hash (hex) over the canonical JSON of its content and its link to the previous one:
 * HMAC-SHA256 under `key` when one is given (the embedded runtime derives it from the master key,
 * so whoever can write the database but not read the key cannot re-hash an altered record and
 * push the break onto the next one), plain SHA-256 otherwise.
 */
export function hashAuditRecord(record: Omit<AuditRecord, 'hash'>, key?: Buffer): string {
  const content = {
    tenantId: record.tenantId,
    seq: record.seq,
    at: record.at,
    kind: record.kind,
    actor: record.actor,
    correlationId: record.correlationId,
    data: record.data,
    prevHash: record.prevHash,
  };
  const digest = key ? createHmac('sha256', key) : createHash('sha256');
  return digest.update(canonicalJson(content), 'utf8').digest('hex');
}

/**
 * The outcome of checking a chain: `count` records, or the first problem. The chain alone names
 * hash-mismatch, sequence-gap and broken-link; the checks against the signed heads
 * (pipeline/audit-heads.ts) add truncated (records missing at the end, or the whole chain),
 * head-log (the head log's own chain is broken, a signature does not verify, or a line is malformed), witness (a
 * head kept elsewhere disagrees) and unreadable (the audit could not be read at all).
 */
export type AuditProblem = 'hash-mismatch' | 'broken-link' | 'sequence-gap' | 'truncated' | 'head-log' | 'witness' | 'unreadable';

export type AuditChainVerdict = { ok: true; count: number } | { ok: false; seq: number; problem: AuditProblem; message: string };

/**
 * Verifies records in the order given (one tenant's `list`, or several tenants' interleaved: each
 * tenant's records are checked against that tenant's previous one). Returns the first bad record:
 * - hash-mismatch: its content does not hash to its stored hash (it was altered);
 * - sequence-gap: its seq is not the previous seq + 1 (a record was deleted, or records reordered);
 * - broken-link: its prevHash is not the previous record's hash (the chain was rewritten before it).
 */
export function verifyAuditChain(records: AuditRecord[], key?: Buffer): AuditChainVerdict {
  const heads = new Map<string, { seq: number; hash: string }>();
  for (const record of records) {
    const { hash, ...content } = record;
    const who = `record ${record.seq} of tenant ${record.tenantId}`;
    if (hashAuditRecord(content, key) !== hash) {
      return fail(record, 'hash-mismatch', `${who} was altered: its hash does not match its content`);
    }
    const previous = heads.get(record.tenantId) ?? { seq: 0, hash: GENESIS_HASH };
    const expectedSeq = previous.seq + 1;
    if (record.seq !== expectedSeq) {
      return fail(
        record,
        'sequence-gap',
        record.seq > expectedSeq
          ? `${who} ${previous.seq === 0 ? 'comes first' : `follows record ${previous.seq}`}: record ${expectedSeq} was deleted or the records were reordered`
          : `${who} comes after record ${previous.seq}: the records were reordered or duplicated`,
      );
    }
    if (record.prevHash !== previous.hash) {
      return fail(
        record,
        'broken-link',
        `${who} does not link to record ${previous.seq}: the chain was rewritten before it`,
      );
    }
    heads.set(record.tenantId, { seq: record.seq, hash });
  }
  return { ok: true, count: records.length };
}

function fail(
  record: AuditRecord,
  problem: 'hash-mismatch' | 'broken-link' | 'sequence-gap',
  message: string,
): AuditChainVerdict {
  return { ok: false, seq: record.seq, problem, message };
}
