/**
 * Signing the tenants' audit chain heads into the head log, and checking the audit against it.
 *
 * Signing (every five minutes and at every sweep's end): a tenant whose chain moved past its
 * latest head gets a new head, appended to the head log (ports/audit-head-log.ts) with the log's
 * own link. A head is never signed BELOW the latest one: a chain found shorter than its latest
 * head was cut, and signing its shorter tip would paper over that.
 *
 * Checking, per tenant, in this order (the first problem is the verdict):
 * 1. the chain itself (altered, deleted, reordered or inserted records);
 * 2. the head log's chain, for the entries naming this tenant (an entry deleted or altered before
 *    one of them, a malformed one, a signature that does not verify), and any unreadable line
 *    after the tenant's latest head (it may have been that tenant's latest);
 * 3. every head of the tenant against the records: records cut from the end, a chain deleted
 *    whole, or cut and rewritten;
 * 4. with a head a witness kept: that the records and the head log still hold it.
 * Anything thrown while checking one tenant becomes that tenant's verdict (`unreadable`): one
 * tenant's broken data never stops the others being checked.
 */
import { errorMessage, RetryableError } from '../domain/errors';
import type { AuditChainVerdict } from '../domain/audit-chain';
import {
  checkHeadLog,
  checkHeadsAgainstRecords,
  checkWitnessHead,
  parseSignedHead,
  signedHeadPayload,
  type HeadLogEntry,
  type HeadLogFinding,
  type SignedHead,
} from '../domain/signed-head';
import { HeadLogConflictError } from '../ports/audit-head-log';
import type { PipelineDeps } from './stage';

/** Six-field NCRONTAB: every five minutes. */
export const DEFAULT_AUDIT_HEAD_SCHEDULE = '0 */5 * * * *';
/** Appends that lost to another writer are signed again on the new end; each loss means the log moved. */
const MAX_APPEND_ATTEMPTS = 5;

type SigningDeps = Pick<PipelineDeps, 'audit' | 'auditSigner' | 'auditHeads' | 'clock'>;
type CheckingDeps = Pick<PipelineDeps, 'audit' | 'auditSigner' | 'auditHeads'>;

/** Signs every tenant's head that moved since its latest signing; returns the heads appended. */
export async function signAuditHeads(deps: SigningDeps): Promise<SignedHead[]> {
  const signed: SignedHead[] = [];
  const failed: string[] = [];
  for (const tenantId of await deps.audit.tenants()) {
    // One tenant's failure (an append lost too often, a store hiccup) must not leave the others unsigned.
    try {
      const tip = await deps.audit.tip(tenantId); // the tip only: signing must not read whole chains every sweep
      if (!tip) continue;
      const latest = await deps.auditHeads.latest(tenantId);
      if (latest && latest.seq >= tip.seq) continue;
      signed.push(await appendHead(deps, tenantId, tip));
    } catch (err) {
      failed.push(`${tenantId}: ${errorMessage(err)}`);
    }
  }
  // The others are signed; the run still fails loudly, and the next one signs what is missing.
  if (failed.length > 0) throw new RetryableError(`signing the audit heads of ${failed.length} tenant(s) failed (${failed.join('; ')}); ${signed.length} signed`);
  return signed;
}

async function appendHead(deps: SigningDeps, tenantId: string, tip: { seq: number; hash: string }): Promise<SignedHead> {
  for (let attempt = 1; ; attempt++) {
    const end = await deps.auditHeads.end();
    const unsigned = {
      index: end.index + 1,
      prev: end.lineHash,
      tenantId,
      seq: tip.seq,
      hash: tip.hash,
      signedAt: deps.clock.now().toISOString(),
      keyId: deps.auditSigner.keyId,
      algorithm: deps.auditSigner.algorithm,
    };
    const head: SignedHead = { ...unsigned, signature: await deps.auditSigner.sign(signedHeadPayload(unsigned)) };
    try {
      await deps.auditHeads.append(head);
      return head;
    } catch (err) {
      if (!(err instanceof HeadLogConflictError) || attempt >= MAX_APPEND_ATTEMPTS) {
        throw err instanceof HeadLogConflictError ? new RetryableError(`the head of tenant ${tenantId} lost ${attempt} appends to other writers: retry later`, { cause: err }) : err;
      }
    }
  }
}

/** The head log read once and its own chain checked: shared by the tenants of one verification. */
export interface HeadLogReading {
  entries: HeadLogEntry[];
  findings: HeadLogFinding[];
}

export async function readHeadLog(deps: Pick<PipelineDeps, 'auditHeads' | 'auditSigner'>): Promise<HeadLogReading> {
  const entries = await deps.auditHeads.read();
  return { entries, findings: await checkHeadLog(entries, (payload, signature, keyId) => deps.auditSigner.verify(payload, signature, keyId)) };
}

export type TenantAuditVerdict = AuditChainVerdict & { signedHead: SignedHead | null };

export interface VerifyOptions {
  /** The head log as already read (a verification of several tenants reads it once). */
  headLog?: HeadLogReading;
  /** A head kept by a witness (parsed JSON of `--head FILE`); checked when it names this tenant. */
  witness?: unknown;
}

/** The tenant's audit, checked as the file's opening says; the first problem is named. */
export async function verifyTenantAudit(deps: CheckingDeps, tenantId: string, options: VerifyOptions = {}): Promise<TenantAuditVerdict> {
  let signedHead: SignedHead | null = null;
  const failed = (problem: Extract<AuditChainVerdict, { ok: false }>['problem'], seq: number, message: string): TenantAuditVerdict => ({ ok: false, seq, problem, message, signedHead });
  try {
    const log = options.headLog ?? (await readHeadLog(deps));
    const mine = log.entries.filter((e) => e.tenantId === tenantId);
    const heads = mine.flatMap((e) => (e.head ? [e.head] : []));
    signedHead = heads.at(-1) ?? null;

    const chain = await deps.audit.verify(tenantId);
    if (!chain.ok) return { ...chain, signedHead };

    const own = log.findings.find((f) => f.tenantId === tenantId);
    if (own) return failed('head-log', signedHead?.seq ?? 0, own.message);
    const lastPosition = mine.at(-1)?.position ?? 0;
    const unreadable = log.findings.find((f) => f.tenantId === null && f.position > lastPosition);
    if (unreadable) return failed('head-log', signedHead?.seq ?? 0, `${unreadable.message}; it names no tenant and comes after tenant ${tenantId}'s latest head, so it may have been that head`);

    const records = await deps.audit.list(tenantId);
    const truncated = checkHeadsAgainstRecords(tenantId, records, heads);
    if (truncated) return failed('truncated', (records.at(-1)?.seq ?? 0) + 1, truncated);

    if (options.witness !== undefined) {
      const witness = parseSignedHead(options.witness);
      if (typeof witness === 'string') return failed('witness', 0, `the witness head is malformed: ${witness}`);
      if (witness.tenantId === tenantId) {
        if (!(await deps.auditSigner.verify(signedHeadPayload(witness), witness.signature, witness.keyId))) {
          return failed('witness', witness.seq, `the witness head (entry ${witness.index}, signed ${witness.signedAt}) does not verify with key ${witness.keyId}: it was altered, or signed by another installation`);
        }
        const disagreement = checkWitnessHead(witness, records, log.entries);
        if (disagreement) return failed('witness', witness.seq, disagreement);
      }
    }
    return { ok: true, count: chain.count, signedHead };
  } catch (err) {
    return failed('unreadable', 0, `the audit of tenant ${tenantId} could not be read: ${errorMessage(err)}`);
  }
}

/**
 * Every tenant an audit verification must cover: those with records, those with heads (records
 * gone but heads left = a deleted chain) and those configured (nothing at all = never audited yet,
 * or everything deleted: then the head log's own chain shows the gap).
 */
export async function auditedTenants(deps: Pick<PipelineDeps, 'audit' | 'tenants'>, headLog: HeadLogReading): Promise<string[]> {
  const fromHeads = headLog.entries.flatMap((e) => (e.tenantId ? [e.tenantId] : []));
  const ids = new Set<string>([...(await deps.audit.tenants()), ...fromHeads, ...deps.tenants.list().map((t) => t.id)]);
  return [...ids].sort();
}
