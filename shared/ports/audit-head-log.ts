/**
 * AuditHeadLog: the append-only log of the audit chains' signed heads, kept apart from the records
 * (domain/signed-head.ts says what a head is and how the log is checked). HeadSigner: the key that
 * signs them.
 *
 * Contract of AuditHeadLog:
 * - `append` adds `head` as the next entry only if it follows the log's end as it is now
 *   (`head.index === end.index + 1` and `head.prev === end.lineHash`); otherwise it throws
 *   HeadLogConflictError and writes nothing (another writer appended first: read `end`, sign again).
 *   When it resolves the entry is durable (fsync, or the service's acknowledgement). There is no
 *   update or delete, through this port or (on Azure) at all.
 * - `read` returns every line, in order, read afresh from storage; a line that is not a signed head
 *   is returned with its problem, never thrown. A write torn by a crash (a last line without its
 *   newline) is not an entry.
 * - `heads`, `latest` and `tenants` are views of the same lines (they may use a cache that follows
 *   the log as it grows); a malformed line is skipped by them.
 * - Safe for concurrent use within a process; across processes `append`'s check is atomic.
 */
import { RetryableError } from '../domain/errors';
import type { HeadAlgorithm, HeadLogEnd, HeadLogEntry, SignedHead } from '../domain/signed-head';

export interface AuditHeadLog {
  end(): Promise<HeadLogEnd>;
  append(head: SignedHead): Promise<void>;
  read(): Promise<HeadLogEntry[]>;
  /** The tenant's heads, in log order. */
  heads(tenantId: string): Promise<SignedHead[]>;
  latest(tenantId: string): Promise<SignedHead | null>;
  /** Tenants with at least one head (malformed lines naming a tenant count too). */
  tenants(): Promise<string[]>;
}

/** The head was not appended: the log had moved on since its `end` was read. */
export class HeadLogConflictError extends RetryableError {}

/**
 * Signs heads (asynchronously: a Key Vault signature is a network call) and checks signatures
 * with public keys only. Contract: `verify` resolves false (never throws) for a signature that does
 * not verify and for a key it does not know; `sign` never exposes the private key.
 */
export interface HeadSigner {
  readonly keyId: string;
  readonly algorithm: HeadAlgorithm;
  /** SPKI PEM of the current key: what a witness needs to check heads without certops. */
  readonly publicKeyPem: string;
  /** base64 signature of `payload`. */
  sign(payload: Buffer): Promise<string>;
  verify(payload: Buffer, signature: string, keyId: string): Promise<boolean>;
}
