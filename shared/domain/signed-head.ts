/**
 * Signed heads of the audit chains, and the head log that keeps them: what a head says, how it is
 * signed and linked, and how a log of them and the records are checked against each other. Pure:
 * signatures are checked by the function passed in (ports/audit-head-log.ts HeadSigner).
 *
 * A head says "tenant T's chain reached record `seq`, whose hash is `hash`", at `signedAt`, signed
 * by `keyId`. The heads of every tenant of an installation are appended to one log, kept apart from
 * the records (a file beside the database; an immutable Blob container on Azure). Like Certificate
 * Transparency's signed tree heads (RFC 9162 §4.10), and like the records themselves, the log is a
 * hash chain: entry `index` names the SHA-256 of the line of entry `index - 1` (`prev`), and the
 * signature covers both, so an entry deleted, reordered, edited or copied back from an older log is
 * named by the entry after it. What no local check can see is the log and the records rolled back
 * TOGETHER to an earlier consistent point: that is why the latest head also leaves the machine
 * (webhook, digest, OSCAL export) and `certops audit verify --head FILE` checks a kept one.
 *
 * One log for the installation rather than one per tenant: a tenant whose records AND heads were
 * all removed still leaves a break in the chain of the other tenants' later heads.
 */
import { createHash } from 'node:crypto';
import type { AuditRecord } from '../ports/audit-log';
import { canonicalJson } from './audit-chain';

/** The `prev` of the head log's first entry. */
export const HEAD_LOG_GENESIS = '0'.repeat(64);

/** Ed25519 (RFC 8032) on one machine; ECDSA P-256 with SHA-256 (RFC 7518 §3.4) with a Key Vault key. */
export type HeadAlgorithm = 'Ed25519' | 'ES256';

export interface SignedHead {
  /** Position of this entry in the installation's head log, from 1. */
  index: number;
  /** SHA-256 (hex) of the stored line of entry `index - 1`; HEAD_LOG_GENESIS for entry 1. */
  prev: string;
  tenantId: string;
  /** The chain's last record when signed, and its hash. */
  seq: number;
  hash: string;
  signedAt: string;
  /** The signing key: `ed25519:<hex>` on one machine, the Key Vault key's versioned id on Azure. */
  keyId: string;
  algorithm: HeadAlgorithm;
  /** base64 signature of `signedHeadPayload` (ES256: the 64-byte r‖s form, RFC 7518 §3.4). */
  signature: string;
}

export type UnsignedHead = Omit<SignedHead, 'signature'>;

/** Where the head log ends: the last entry's index and the hash of its line ({0, genesis} when empty). */
export interface HeadLogEnd {
  index: number;
  lineHash: string;
}

/** One line of a head log as read: the head it holds, or what is wrong with it (never thrown). */
export interface HeadLogEntry {
  /** Line number, from 1. */
  position: number;
  lineHash: string;
  head: SignedHead | null;
  /** The tenant the line names, when it names one (a malformed head may still). */
  tenantId: string | null;
  /** Why the line is not a signed head; null when it is one. */
  problem: string | null;
}

/** What is signed: the canonical JSON (RFC 8785) of every field but the signature. */
export function signedHeadPayload(head: UnsignedHead): Buffer {
  const { index, prev, tenantId, seq, hash, signedAt, keyId, algorithm } = head;
  return Buffer.from(canonicalJson({ index, prev, tenantId, seq, hash, signedAt, keyId, algorithm }), 'utf8');
}

/** How a head is stored: one line of canonical JSON (without its newline). */
export function headLine(head: SignedHead): string {
  const { index, prev, tenantId, seq, hash, signedAt, keyId, algorithm, signature } = head;
  return canonicalJson({ index, prev, tenantId, seq, hash, signedAt, keyId, algorithm, signature });
}

/** The hash the next entry names: over the stored line itself, so even a malformed line is linked. */
export function lineHash(line: string): string {
  return createHash('sha256').update(line, 'utf8').digest('hex');
}

const HEX64 = /^[0-9a-f]{64}$/;
const positive = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 1;
const text = (v: unknown): v is string => typeof v === 'string' && v.length > 0;

/** `value` as a signed head, or a sentence saying which field is wrong (a witness file, a log line). */
export function parseSignedHead(value: unknown): SignedHead | string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'it is not a JSON object';
  const v = value as Record<string, unknown>;
  const wrong: string[] = [];
  if (!positive(v.index)) wrong.push('index is not a positive integer');
  if (typeof v.prev !== 'string' || !HEX64.test(v.prev)) wrong.push('prev is not a SHA-256 hex hash');
  if (!text(v.tenantId)) wrong.push('tenantId is missing');
  if (!positive(v.seq)) wrong.push('seq is not a positive integer');
  if (typeof v.hash !== 'string' || !HEX64.test(v.hash)) wrong.push('hash is not a SHA-256 hex hash');
  if (!text(v.signedAt) || Number.isNaN(Date.parse(v.signedAt))) wrong.push('signedAt is not a time');
  if (!text(v.keyId)) wrong.push('keyId is missing');
  if (v.algorithm !== 'Ed25519' && v.algorithm !== 'ES256') wrong.push('algorithm is neither Ed25519 nor ES256');
  if (!text(v.signature)) wrong.push('signature is missing');
  if (wrong.length > 0) return wrong.join(', ');
  const { index, prev, tenantId, seq, hash, signedAt, keyId, algorithm, signature } = v as unknown as SignedHead;
  return { index, prev, tenantId, seq, hash, signedAt, keyId, algorithm, signature };
}

/** One stored line (without its newline) as an entry at `position`. */
export function headLogEntry(line: string, position: number): HeadLogEntry {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { position, lineHash: lineHash(line), head: null, tenantId: null, problem: 'it is not JSON' };
  }
  const parsed = parseSignedHead(value);
  const named = typeof value === 'object' && value !== null ? (value as { tenantId?: unknown }).tenantId : undefined;
  return typeof parsed === 'string'
    ? { position, lineHash: lineHash(line), head: null, tenantId: text(named) ? named : null, problem: parsed }
    : { position, lineHash: lineHash(line), head: parsed, tenantId: parsed.tenantId, problem: null };
}

/**
 * The entries of a head log's text, from `firstPosition`. A last line without its newline is a
 * write torn by a crash (appends are acknowledged only after the whole line is on disk), so it is
 * left out and reported as `torn`, never as an entry.
 */
export function parseHeadLog(text: string, firstPosition = 1): { entries: HeadLogEntry[]; torn: string | null } {
  const lines = text.split('\n');
  const last = lines.pop() ?? '';
  return { entries: lines.map((line, i) => headLogEntry(line, firstPosition + i)), torn: last === '' ? null : last };
}

/** Where a log of `entries` ends (the index the next entry takes is `index + 1`). */
export function headLogEnd(entries: readonly HeadLogEntry[]): HeadLogEnd {
  const last = entries.at(-1);
  if (!last) return { index: 0, lineHash: HEAD_LOG_GENESIS };
  // A malformed last line keeps its place: the next entry follows its position and links to its bytes.
  return { index: last.head?.index ?? last.position, lineHash: last.lineHash };
}

/** A problem of the head log, attributed to the tenant its line names (null: the line names none). */
export interface HeadLogFinding {
  tenantId: string | null;
  position: number;
  message: string;
}

export type VerifyHeadSignature = (payload: Buffer, signature: string, keyId: string) => Promise<boolean>;

/**
 * The head log's own chain: every line a signed head, each following the entry before it (index
 * one more, `prev` the hash of the line before) and verifying with its key. A break is reported at
 * the entry after it only, not at every later one, so a deletion names one place.
 */
export async function checkHeadLog(entries: readonly HeadLogEntry[], verifySignature: VerifyHeadSignature): Promise<HeadLogFinding[]> {
  const findings: HeadLogFinding[] = [];
  let previous: HeadLogEntry | null = null;
  for (const entry of entries) {
    const at = (message: string) => findings.push({ tenantId: entry.tenantId, position: entry.position, message });
    const head = entry.head;
    if (!head) {
      at(`head log entry ${entry.position} is malformed (${entry.problem}): it was altered or written by something else than certops`);
    } else {
      const expectedIndex = previous ? (previous.head?.index ?? previous.position) + 1 : 1;
      const expectedPrev = previous?.lineHash ?? HEAD_LOG_GENESIS;
      if (head.index !== expectedIndex || head.prev !== expectedPrev) {
        at(
          head.index === 1 && !previous
            ? `head log entry 1 is not the first one certops wrote: it was replaced`
            : `head log entry ${head.index} (line ${entry.position}) does not follow the line before it, which should be entry ${head.index - 1}: entry ${head.index - 1} was deleted or altered, or the log was reordered`,
        );
      } else if (!(await verifySignature(signedHeadPayload(head), head.signature, head.keyId))) {
        at(`head log entry ${head.index} (record ${head.seq} of tenant ${head.tenantId}, signed ${head.signedAt}) does not verify with key ${head.keyId}: it was altered or forged`);
      }
    }
    previous = entry;
  }
  return findings;
}

/**
 * A tenant's heads against its records (a chain that verified, so record n sits at index n - 1),
 * latest head first: a head past the last record means records were cut from the end (or the
 * whole chain deleted); a head naming a record whose hash differs means the chain was cut and
 * rewritten from there. Null: every head agrees with the records.
 */
export function checkHeadsAgainstRecords(tenantId: string, records: readonly AuditRecord[], heads: readonly SignedHead[]): string | null {
  const lastSeq = records.at(-1)?.seq ?? 0;
  for (const head of [...heads].reverse()) {
    const said = `the head signed at ${head.signedAt} (head log entry ${head.index}) says the chain reached record ${head.seq}`;
    if (head.seq > lastSeq) {
      const missing = head.seq === lastSeq + 1 ? `record ${head.seq} of tenant ${tenantId} is missing` : `records ${lastSeq + 1} to ${head.seq} of tenant ${tenantId} are missing`;
      return `${missing}: ${said}`;
    }
    if (records[head.seq - 1]?.hash !== head.hash) {
      return `record ${head.seq} of tenant ${tenantId} is not the one signed at ${head.signedAt} (head log entry ${head.index}): the chain was cut and rewritten from there`;
    }
  }
  return null;
}

/**
 * A head a witness kept (from a webhook, a digest or an OSCAL export) against the records and the
 * head log: the record it names must still be there with its hash, and the log must still hold
 * that very entry. Null: consistent. The caller has checked its signature.
 */
export function checkWitnessHead(witness: SignedHead, records: readonly AuditRecord[], entries: readonly HeadLogEntry[]): string | null {
  const kept = `the head a witness kept (entry ${witness.index}, signed ${witness.signedAt})`;
  const record = records[witness.seq - 1];
  if (!record || record.seq !== witness.seq) {
    return `record ${witness.seq} of tenant ${witness.tenantId}, which ${kept} names, is missing: the records were cut after the witness saw them`;
  }
  if (record.hash !== witness.hash) {
    return `record ${witness.seq} of tenant ${witness.tenantId} is not the one ${kept} names: the chain was rewritten after the witness saw it`;
  }
  const entry = entries.find((e) => e.head?.index === witness.index);
  if (!entry || entry.lineHash !== lineHash(headLine(witness))) {
    return `the head log no longer holds ${kept}: its entries were deleted or rolled back`;
  }
  return null;
}
