/**
 * Human-in-the-loop gates: for each action certops may take on a tenant's certificates, how much a
 * human is involved. Observes the action and the tenant's policy; decides whether to act now, act
 * and tell, wait for approval, or only recommend. Like cert-manager's approval condition, the
 * decision is data: a stage that gets `await-approval` stores the request and returns early
 * ("WaitingForApproval") until the approval is recorded.
 *
 * Levels:
 * - L0: proceed; no notification (the action is logged and audited only).
 * - L1: proceed, then notify the assigned human, who may review, override (roll back) or escalate.
 * - L2: wait for the assigned human's approval before acting.
 * - L3: recommend only; a human acts, with certops' analysis as decision support.
 */
export type GateLevel = 'L0' | 'L1' | 'L2' | 'L3';
export type ActionType = 'renew' | 'rotate' | 'revoke' | 'credential-roll';
export type GateOutcome = 'proceed' | 'await-approval' | 'recommend-only';

export const GATE_LEVELS: readonly GateLevel[] = ['L0', 'L1', 'L2', 'L3'];
export const ACTION_TYPES: readonly ActionType[] = ['renew', 'rotate', 'revoke', 'credential-roll'];

/**
 * Defaults when the tenant's policy is silent. Renew and rotate are L1 because they can be undone
 * by redeploying the previous certificate and key; revoke is L2 because a revocation cannot be
 * undone (RFC 5280's certificateHold is the only reversible reason, and the CA/Browser Forum
 * Baseline Requirements §4.9.13 forbid suspending TLS certificates); credential-roll is L2 because
 * systems still holding the old credential lose access the moment it is rolled.
 */
export const DEFAULT_GATE_LEVELS: Record<ActionType, GateLevel> = {
  renew: 'L1',
  rotate: 'L1',
  revoke: 'L2',
  'credential-roll': 'L2',
};

export interface Assignee {
  name: string;
  email?: string;
}

export interface GateDecision {
  level: GateLevel;
  action: ActionType;
  outcome: GateOutcome;
  /** True only at L1: the action proceeds and the assignee is told afterwards. */
  notifyAfter: boolean;
  /** One sentence naming the level, the action, the subject and why this level applies. */
  rationale: string;
  /**
   * What chose the level: the tenant's policy or the default; a risk of this one action raising it
   * (`Risk`); the level having been raised for the tenant and action (`Learned` from the override
   * rate, `Escalated` by a human).
   */
  reason: 'TenantPolicy' | 'Default' | 'Risk' | 'Learned' | 'Escalated';
  /** The risks found for this action, whether or not they raised the level. */
  risks?: GateRisk[];
  /** The human this decision concerns (told at L1, asked at L2, advised at L3; nobody is told at L0). */
  tell: Assignee;
}

const OUTCOME: Record<GateLevel, GateOutcome> = {
  L0: 'proceed',
  L1: 'proceed',
  L2: 'await-approval',
  L3: 'recommend-only',
};

const WHY_DEFAULT: Record<ActionType, string> = {
  renew: 'renewing replaces a certificate with an equivalent one and can be rolled back',
  rotate: 'rotating a key can be rolled back by redeploying the previous key and certificate',
  revoke: 'a revocation cannot be undone',
  'credential-roll': 'systems still holding the old credential lose access when it is rolled',
};

/** Something about this one action that makes it riskier than the tenant's usual (gate-risks.ts finds them). */
export interface GateRisk {
  code: 'wildcard-fleet' | 'production-endpoint' | 'foreign-certificate' | 'ca-change' | 'overridden';
  /** The level this risk asks for at least. */
  raiseTo: GateLevel;
  detail: string;
}

/** A level raised for a tenant and action type, above its policy (by the override rate, or a human's escalation). */
export interface RaisedGate {
  level: GateLevel;
  by: 'override-rate' | 'escalation';
  reason: string;
}

export function levelRank(level: GateLevel): number {
  return GATE_LEVELS.indexOf(level);
}

/**
 * Decide the gate for one action on one subject (a certificate id, host or credential name): the
 * strictest of the tenant's level (or the default), the level raised for this tenant and action,
 * and what this action's risks ask for. Pure and total: an unknown level in `tenantLevels` cannot
 * occur once the configuration has been validated (config-schema.ts restricts it to L0–L3).
 */
export function decideGate(input: {
  tenantId: string;
  action: ActionType;
  tenantLevels?: Partial<Record<ActionType, GateLevel>>;
  assignee: Assignee;
  subject: string;
  raised?: RaisedGate | null;
  risks?: GateRisk[];
}): GateDecision {
  const { tenantId, action, assignee, subject } = input;
  const tenantLevel = input.tenantLevels?.[action];
  let level = tenantLevel ?? DEFAULT_GATE_LEVELS[action];
  let reason: GateDecision['reason'] = tenantLevel ? 'TenantPolicy' : 'Default';
  let why =
    reason === 'TenantPolicy'
      ? `tenant ${tenantId}'s policy sets ${action} to ${level}`
      : `${WHY_DEFAULT[action]} (the default level for ${action})`;
  if (input.raised && levelRank(input.raised.level) > levelRank(level)) {
    level = input.raised.level;
    reason = input.raised.by === 'escalation' ? 'Escalated' : 'Learned';
    why = `${action} was raised to ${level} for tenant ${tenantId}: ${input.raised.reason}`;
  }
  const risks = input.risks ?? [];
  const strongest = risks.reduce<GateRisk | null>((a, r) => (!a || levelRank(r.raiseTo) > levelRank(a.raiseTo) ? r : a), null);
  if (strongest && levelRank(strongest.raiseTo) > levelRank(level)) {
    level = strongest.raiseTo;
    reason = 'Risk';
    why = `this ${action} is riskier than usual: ${risks.filter((r) => r.raiseTo === strongest.raiseTo).map((r) => r.detail).join('; ')}`;
  }
  return {
    level,
    action,
    outcome: OUTCOME[level],
    notifyAfter: level === 'L1',
    rationale: `${level}: ${consequence(level, action, subject, assignee.name)}, because ${why}.`,
    reason,
    ...(risks.length > 0 ? { risks } : {}),
    tell: assignee.email ? { name: assignee.name, email: assignee.email } : { name: assignee.name },
  };
}

function consequence(level: GateLevel, action: ActionType, subject: string, who: string): string {
  switch (level) {
    case 'L0':
      return `certops will ${action} ${subject} without notifying anyone (logged and audited only)`;
    case 'L1':
      return `certops will ${action} ${subject} and then notify ${who}, who may review, roll back or escalate`;
    case 'L2':
      return `certops will not ${action} ${subject} until ${who} approves`;
    case 'L3':
      return `certops only recommends to ${action} ${subject}; ${who} decides and acts`;
  }
}
