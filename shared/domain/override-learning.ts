/**
 * Learning from overrides: when humans keep undoing what certops did at L1 for a tenant and action
 * type, certops stops acting first and asks first (L2) for that pair; after a run of actions the
 * humans accepted, it goes back to the tenant's level. Pure: the pipeline persists the state
 * (GovernanceStore) and audits and announces each change.
 *
 * The rate is taken over the last `window` outcomes, once at least `minActions` exist, so a single
 * early override of a new tenant does not move anything.
 */
import type { GateLevel } from './gate-policy';

export interface LearningRules {
  /** Outcomes looked at (default 10). */
  window?: number;
  /** Outcomes needed before the rate counts (default 10). */
  minActions?: number;
  /** Override rate at or above which the level is raised (default 0.5). */
  overrideRate?: number;
  /** The level raised to (default L2). */
  raiseTo?: GateLevel;
  /** Accepted actions in a row after which a learned raise is lifted (default 5). */
  relaxAfter?: number;
}

export interface LearnedOutcome {
  at: string;
  rotationId: string;
  outcome: 'accepted' | 'overridden';
}

export interface LearningState {
  raisedTo: GateLevel | null;
  raisedBy: 'override-rate' | 'escalation' | null;
  raisedAt: string | null;
  reason: string | null;
  outcomes: LearnedOutcome[];
  acceptedRun: number;
}

export type LearningChange = { kind: 'raised'; level: GateLevel; reason: string } | { kind: 'relaxed'; reason: string } | null;

/** Outcomes kept per pair: enough for any sensible window. */
const KEPT = 50;

/**
 * The state after one more outcome, and what changed. An outcome for a rotation already counted
 * replaces it (an accepted action overridden later counts once, as overridden). An escalation
 * (a human raised the level) is never lifted by the run of accepted actions: a human lifts it.
 */
export function learnFrom(state: LearningState, outcome: LearnedOutcome, rules: LearningRules = {}): { state: LearningState; change: LearningChange } {
  const window = rules.window ?? 10;
  const minActions = rules.minActions ?? 10;
  const threshold = rules.overrideRate ?? 0.5;
  const raiseTo = rules.raiseTo ?? 'L2';
  const relaxAfter = rules.relaxAfter ?? 5;

  const outcomes = [...state.outcomes.filter((o) => o.rotationId !== outcome.rotationId), outcome].slice(-KEPT);
  let next: LearningState = { ...state, outcomes, acceptedRun: outcome.outcome === 'accepted' ? state.acceptedRun + 1 : 0 };

  const recent = outcomes.slice(-window);
  const overridden = recent.filter((o) => o.outcome === 'overridden').length;
  const rate = recent.length > 0 ? overridden / recent.length : 0;
  if (next.raisedTo === null && recent.length >= minActions && rate >= threshold) {
    const reason = `${overridden} of the last ${recent.length} actions were overridden (rate ${rate.toFixed(2)}, threshold ${threshold})`;
    next = { ...next, raisedTo: raiseTo, raisedBy: 'override-rate', raisedAt: outcome.at, reason, acceptedRun: 0 };
    return { state: next, change: { kind: 'raised', level: raiseTo, reason } };
  }
  if (next.raisedBy === 'override-rate' && next.acceptedRun >= relaxAfter) {
    const reason = `${next.acceptedRun} actions in a row were accepted since the level was raised`;
    // The window starts afresh: the overrides that raised the level do not raise it again at once.
    next = { ...next, raisedTo: null, raisedBy: null, raisedAt: null, reason: null, outcomes: outcomes.slice(-next.acceptedRun), acceptedRun: 0 };
    return { state: next, change: { kind: 'relaxed', reason } };
  }
  return { state: next, change: null };
}
