/**
 * AuditLog: an append-only, per-tenant, hash-chained log of every decision and action.
 * Each record carries the previous record's hash; its own hash covers a canonical encoding of
 * (tenantId, seq, at, kind, data, prevHash). See domain/audit-chain.ts for hashing and verification.
 *
 * Contract: `append` is atomic per tenant (sequence numbers are dense, from 1, without gaps, even
 * under concurrent appends). There is no update or delete.
 *
 * The signed heads that make a cut at the end of a chain detectable are not kept here: they go to
 * their own log, apart from the records (ports/audit-head-log.ts), so that whoever can rewrite the
 * records' store does not hold the heads too.
 */
import type { AuditChainVerdict } from '../domain/audit-chain';
export interface AuditEntry {
  kind: string;
  /** Who or what acted: a stage name, `human:<email>`, `cli`. */
  actor: string;
  correlationId: string;
  data: Record<string, unknown>;
}

export interface AuditRecord extends AuditEntry {
  tenantId: string;
  seq: number;
  at: string;
  prevHash: string;
  hash: string;
}

export interface AuditLog {
  append(tenantId: string, entry: AuditEntry): Promise<AuditRecord>;
  list(tenantId: string): Promise<AuditRecord[]>;
  /** The records after `seq` (seq order): the tail of a chain, without reading all of it. */
  listAfter(tenantId: string, seq: number): Promise<AuditRecord[]>;
  /** Checks the tenant's chain with the log's own key; names the first bad record. */
  verify(tenantId: string): Promise<AuditChainVerdict>;
  tenants(): Promise<string[]>;
  /** Where the tenant's chain ends now (its last record's seq and hash); null when it is empty. Cheap: no record is read. */
  tip(tenantId: string): Promise<{ seq: number; hash: string } | null>;
}
