/**
 * The rotation state machine, pure. A rotation replaces the certificate of one managed
 * certificate; each state names the work done so far, so that a process that dies anywhere can be
 * resumed from the persisted state (pipeline/rotation-engine.ts), never from memory.
 *
 *   planned ──issue──▶ issued ──deploy──▶ deployed ──verify──▶ verified ──▶ committed
 *      │                 │                    │                                  │
 *      │ refused         └──── failed ────────┴──────▶ rolling-back ◀── override ┘
 *      ▼                                                  │      │
 *   escalated ◀──────────── restore failed ───────────────┘      ▼
 *      ▲                                                    rolled-back
 *      └──────────────────────── tell the human ─────────────────┘
 *
 * Nothing is revoked on the way: the old certificate stays valid (and restorable) until commit.
 */
export const ROTATION_STATES = ['planned', 'issued', 'deployed', 'verified', 'committed', 'rolling-back', 'rolled-back', 'escalated'] as const;
export type RotationState = (typeof ROTATION_STATES)[number];

const TRANSITIONS: Readonly<Record<RotationState, readonly RotationState[]>> = {
  // An issuance the CA refuses leaves nothing deployed: straight to the human.
  planned: ['issued', 'escalated'],
  // A deployment that failed part-way (a reload refused, a canary not serving) is undone.
  issued: ['deployed', 'rolling-back'],
  deployed: ['verified', 'rolling-back'],
  verified: ['committed'],
  // A human override after the fact (the L1 loop) undoes a committed rotation.
  committed: ['rolling-back'],
  // A restore that fails cannot claim "rolled back": the human is told at once.
  'rolling-back': ['rolled-back', 'escalated'],
  'rolled-back': ['escalated'],
  escalated: [],
};

/** States in which no work remains (a committed rotation can still be overridden by a human). */
const TERMINAL: ReadonlySet<RotationState> = new Set<RotationState>(['committed', 'escalated']);

export class IllegalTransitionError extends Error {
  constructor(
    readonly from: RotationState,
    readonly to: RotationState,
  ) {
    super(`a rotation cannot go from ${from} to ${to} (allowed: ${TRANSITIONS[from].join(', ') || 'none'})`);
    this.name = 'IllegalTransitionError';
  }
}

export function canTransition(from: RotationState, to: RotationState): boolean {
  return TRANSITIONS[from].includes(to);
}

/** Throws IllegalTransitionError unless `from → to` is an edge of the machine. */
export function assertTransition(from: RotationState, to: RotationState): void {
  if (!canTransition(from, to)) throw new IllegalTransitionError(from, to);
}

export function isTerminal(state: RotationState): boolean {
  return TERMINAL.has(state);
}

/**
 * A renewal whose reason starts with this replaces a compromised key: the rotation keeps no
 * previous key once it commits (no rollback window) and asks the CA to revoke the old certificate.
 */
export const KEY_COMPROMISE_REASON = 'KeyCompromise';

export function isKeyCompromise(reason: string): boolean {
  return reason === KEY_COMPROMISE_REASON || reason.startsWith(`${KEY_COMPROMISE_REASON}:`);
}

/** How long a committed rotation stays undoable by default (its previous key is kept that long). */
export const DEFAULT_ROLLBACK_WINDOW_DAYS = 7;

/** The audit record kind of entering each state (one record per transition). */
export const ROTATION_AUDIT_KIND: Readonly<Record<RotationState, string>> = {
  planned: 'rotation.planned',
  issued: 'certificate.issued',
  deployed: 'certificate.deployed',
  verified: 'rotation.verified',
  committed: 'rotation.committed',
  'rolling-back': 'rotation.rolling-back',
  'rolled-back': 'certificate.restored',
  escalated: 'rotation.failed',
};

/**
 * Deployment order of a certificate's targets: all or none, with a canary first when the
 * certificate is on more than `canaryThreshold` endpoints and has several targets (a wildcard
 * across a fleet). The canary is the target marked `canary`, else the first.
 */
export function deploymentPlan(
  targets: ReadonlyArray<{ canary?: boolean }>,
  endpointCount: number,
  canaryThreshold: number,
): { order: number[]; canary: number | null } {
  const indexes = targets.map((_, i) => i);
  if (targets.length < 2 || endpointCount <= canaryThreshold) return { order: indexes, canary: null };
  const marked = targets.findIndex((t) => t.canary === true);
  const canary = marked >= 0 ? marked : 0;
  return { order: [canary, ...indexes.filter((i) => i !== canary)], canary };
}
