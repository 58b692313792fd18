/**
 * The scheduled jobs that are not stages (they read state, not events): one list, run by the
 * embedded scheduler and registered as Functions timers alike, so neither runtime can forget one.
 */
import { DEFAULT_APPROVAL_EXPIRY_SCHEDULE, expireApprovals } from './approval-expiry-job';
import { DEFAULT_AUDIT_HEAD_SCHEDULE, signAuditHeads } from './audit-heads';
import { DEFAULT_DIGEST_SCHEDULE, sendDigests } from './digest-job';
import { DEFAULT_KEY_RETIREMENT_SCHEDULE, retireDueRollbacks } from './key-retirement';
import type { PipelineDeps } from './stage';

export interface ScheduledJob {
  name: 'digest' | 'audit-heads' | 'approval-expiry' | 'key-retirement';
  /** Six-field NCRONTAB. */
  defaultSchedule: string;
  /** Runs the job over every tenant; returns one line saying what it did. */
  run(deps: PipelineDeps): Promise<string>;
}

export const JOBS: readonly ScheduledJob[] = [
  // The daily digest of what noise control held back.
  { name: 'digest', defaultSchedule: DEFAULT_DIGEST_SCHEDULE, run: async (deps) => `${(await sendDigests(deps)).length} digests sent` },
  // The audit chains' heads, signed apart from the records (truncation becomes detectable).
  { name: 'audit-heads', defaultSchedule: DEFAULT_AUDIT_HEAD_SCHEDULE, run: async (deps) => `${(await signAuditHeads(deps)).length} audit heads signed` },
  // L2 approvals nobody answered in time: marked, audited, told.
  { name: 'approval-expiry', defaultSchedule: DEFAULT_APPROVAL_EXPIRY_SCHEDULE, run: async (deps) => `${(await expireApprovals(deps)).length} approvals expired` },
  // Previous keys kept for rollback, once the rollback window ends (or at once after a key compromise).
  { name: 'key-retirement', defaultSchedule: DEFAULT_KEY_RETIREMENT_SCHEDULE, run: async (deps) => `${(await retireDueRollbacks(deps)).length} rotations retired` },
];

export type JobName = ScheduledJob['name'];
