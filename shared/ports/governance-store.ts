/**
 * GovernanceStore: what the human-in-the-loop gates (domain/gate-policy.ts) remember between
 * events, per client tenant: the level each action type has been raised to (the L1 loop learns
 * from overrides and escalations), approvals waiting for a human (L2), snoozes, and the queue of
 * notifications held for the daily digest.
 *
 * Every method takes the tenant, and every record is keyed by it: nothing of one tenant is read,
 * changed or listed through another tenant's id, even with the same natural keys.
 *
 * Contract:
 * - `putGateState` and `putApproval` are optimistic: `expectedVersion` is the version the caller
 *   read (0 = the record must not exist yet); on a mismatch they throw ConcurrencyError and change
 *   nothing. On success the stored and returned record has `version = expectedVersion + 1`.
 *   Two humans deciding one approval at once: one wins, the other gets ConcurrencyError.
 * - `putGateState` keeps only the newest MAX_GATE_OUTCOMES outcomes (stored and returned trimmed),
 *   so the record stays bounded however long the loop runs.
 * - `putSnooze` is an upsert by (tenantId, subjectKey); `deleteSnooze` of a missing snooze is fine.
 * - `queueDigest` is idempotent by (tenantId, id): the first queued item is kept, a repeat (a
 *   redelivered message) changes nothing, so the item keeps its place in the queue.
 * - `listDigest` is oldest first: by `queuedAt`, then `id`. `clearDigest` removes only the given
 *   ids (missing ids are fine): clear after the digest was sent, so a crash in between re-sends
 *   rather than loses; receivers deduplicate on the notification id.
 * - Lists are ordered so that every adapter returns the same sequence: gate states by action,
 *   approvals by `requestedAt` then `approvalId`.
 * - The store keeps time-bearing fields as data and decides nothing by the clock: an approval past
 *   `expiresAt` stays `pending` until the caller stores it as `expired`, and `getSnooze` returns a
 *   snooze whose `until` has passed; the caller compares with its Clock.
 * - A record whose tenant differs from the one it is stored under (a DigestItem whose notification
 *   belongs to another tenant) is refused with an Error before anything is written.
 * - Records are stored as JSON: `PendingApproval.request` must survive JSON round-tripping.
 * - Implementations MUST be safe for concurrent use.
 */
import type { ActionType, GateLevel } from '../domain/gate-policy';
import type { Notification } from './notifier';
import { ConcurrencyError } from './certificate-store';

export { ConcurrencyError };

/** How many L1 outcomes a gate state keeps (the override rate is computed over these). */
export const MAX_GATE_OUTCOMES = 50;

/**
 * What the human made of one action taken at L1. Named L1Outcome, not GateOutcome: gate-policy.ts
 * already exports a `GateOutcome` (proceed / await-approval / recommend-only).
 */
export interface L1Outcome {
  at: string;
  rotationId: string;
  outcome: 'accepted' | 'overridden';
}

/** The learned gate of one action type for one tenant. */
export interface GateState {
  tenantId: string;
  action: ActionType;
  /** A level raised above the policy's (by the override rate or a human's escalation); null: the policy's level applies. */
  raisedTo: GateLevel | null;
  raisedBy: 'override-rate' | 'escalation' | null;
  raisedAt: string | null;
  reason: string | null;
  /** Recent L1 outcomes, newest last, at most MAX_GATE_OUTCOMES kept. */
  outcomes: L1Outcome[];
  /** Accepted actions in a row since the level was raised. */
  acceptedRun: number;
  version: number;
}

/** An action held at L2 until a human decides, or until it expires. */
export interface PendingApproval {
  tenantId: string;
  approvalId: string;
  certificateId: string;
  action: ActionType;
  requestedAt: string;
  expiresAt: string;
  status: 'pending' | 'approved' | 'denied' | 'expired';
  /** The gated request (a CloudEvent) to publish again once approved. */
  request: unknown;
  decidedBy: string | null;
  decidedAt: string | null;
  reason: string | null;
  version: number;
}

export type ApprovalStatus = PendingApproval['status'];

/** Notifications about `subjectKey` are held back until `until`. */
export interface Snooze {
  tenantId: string;
  subjectKey: string;
  until: string;
  by: string;
  reason: string;
}

/** A notification held for the tenant's next daily digest. `id` is its idempotency key. */
export interface DigestItem {
  tenantId: string;
  id: string;
  notification: Notification;
  queuedAt: string;
}

export interface GovernanceStore {
  getGateState(tenantId: string, action: ActionType): Promise<GateState | null>;
  /** Optimistic: expectedVersion 0 = must not exist; ConcurrencyError otherwise. Trims `outcomes`. */
  putGateState(state: GateState, expectedVersion: number): Promise<GateState>;
  /** The tenant's gate states, by action. */
  listGateStates(tenantId: string): Promise<GateState[]>;

  getApproval(tenantId: string, approvalId: string): Promise<PendingApproval | null>;
  /** Optimistic as above: two humans deciding at once, one wins. */
  putApproval(approval: PendingApproval, expectedVersion: number): Promise<PendingApproval>;
  /** The tenant's approvals (of one status when given), by requestedAt then approvalId. */
  listApprovals(tenantId: string, status?: ApprovalStatus): Promise<PendingApproval[]>;

  /** Upsert by (tenantId, subjectKey). */
  putSnooze(snooze: Snooze): Promise<void>;
  getSnooze(tenantId: string, subjectKey: string): Promise<Snooze | null>;
  deleteSnooze(tenantId: string, subjectKey: string): Promise<void>;

  /** Idempotent by (tenantId, id): queuing the same notification twice keeps one (the first). */
  queueDigest(item: DigestItem): Promise<void>;
  /** Oldest first (queuedAt, then id). */
  listDigest(tenantId: string): Promise<DigestItem[]>;
  /** Removes the given ids once the digest was sent (a crash before this re-sends, never loses). */
  clearDigest(tenantId: string, ids: string[]): Promise<void>;
}

/** The state as stored: only the newest MAX_GATE_OUTCOMES outcomes (for adapters). */
export function withRecentOutcomes(state: GateState): GateState {
  return state.outcomes.length <= MAX_GATE_OUTCOMES ? state : { ...state, outcomes: state.outcomes.slice(-MAX_GATE_OUTCOMES) };
}

/** Throws when a digest item's notification belongs to another tenant than the item (for adapters). */
export function assertDigestTenant(item: DigestItem): void {
  if (item.notification.tenantId !== item.tenantId) {
    throw new Error(
      `digest item ${item.id} is queued for tenant ${item.tenantId} but its notification belongs to tenant ` +
        `${item.notification.tenantId}: the caller mixed tenants`,
    );
  }
}
