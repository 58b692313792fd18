/**
 * The rotation state machine (shared/domain/rotation.ts), checked against an edge list written
 * out here: a change to the machine's table must be made in this list too, on purpose.
 */
import {
  IllegalTransitionError,
  ROTATION_AUDIT_KIND,
  ROTATION_STATES,
  assertTransition,
  canTransition,
  deploymentPlan,
  isTerminal,
  type RotationState,
} from '../../shared/domain/rotation';

/** The design (issue #4): every edge a rotation may take, and no other. */
const EXPECTED_EDGES: ReadonlyArray<readonly [RotationState, RotationState]> = [
  ['planned', 'issued'],
  ['planned', 'escalated'], // issuance refused permanently: nothing deployed
  ['issued', 'deployed'],
  ['issued', 'rolling-back'], // a deployment failed part-way
  ['deployed', 'verified'],
  ['deployed', 'rolling-back'], // verification failed
  ['verified', 'committed'],
  ['committed', 'rolling-back'], // a human override after the fact
  ['rolling-back', 'rolled-back'],
  ['rolling-back', 'escalated'], // the restore failed
  ['rolled-back', 'escalated'],
];

const EXPECTED_STATES: RotationState[] = ['planned', 'issued', 'deployed', 'verified', 'committed', 'rolling-back', 'rolled-back', 'escalated'];

const isExpectedEdge = (from: RotationState, to: RotationState) => EXPECTED_EDGES.some(([f, t]) => f === from && t === to);

const ALL_PAIRS = ROTATION_STATES.flatMap((from) => ROTATION_STATES.map((to) => ({ from, to, allowed: isExpectedEdge(from, to) })));

describe('rotation state machine: transitions', () => {
  it('When the states are listed, then they are exactly the eight of the design, in flow order', () => {
    expect([...ROTATION_STATES]).toEqual(EXPECTED_STATES);
  });

  it('When every pair is checked, then 11 are edges and the other 53 are not (a changed table fails here)', () => {
    expect(ALL_PAIRS.filter((p) => p.allowed)).toHaveLength(EXPECTED_EDGES.length);
    expect(ALL_PAIRS).toHaveLength(64);
    expect(ALL_PAIRS.filter((p) => canTransition(p.from, p.to)).map((p) => [p.from, p.to])).toEqual(EXPECTED_EDGES);
  });

  it.each(ALL_PAIRS.filter((p) => p.allowed))('When a rotation goes from $from to $to, then the move is accepted', ({ from, to }) => {
    expect(canTransition(from, to)).toBe(true);
    expect(() => assertTransition(from, to)).not.toThrow();
  });

  it.each(ALL_PAIRS.filter((p) => !p.allowed))('When a rotation tries $from → $to, then it is refused with IllegalTransitionError naming both states', ({ from, to }) => {
    expect(canTransition(from, to)).toBe(false);
    let thrown: unknown;
    try {
      assertTransition(from, to);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(IllegalTransitionError);
    const error = thrown as IllegalTransitionError;
    expect(error.from).toBe(from);
    expect(error.to).toBe(to);
    expect(error.message).toContain(`from ${from} to ${to}`);
  });

  it('When an escalated rotation tries to move, then the refusal says no move is allowed', () => {
    expect(() => assertTransition('escalated', 'planned')).toThrow(/allowed: none/);
  });

  it('When a refused move has allowed alternatives, then the refusal lists them', () => {
    expect(() => assertTransition('planned', 'deployed')).toThrow('a rotation cannot go from planned to deployed (allowed: issued, escalated)');
  });
});

describe('rotation state machine: terminal states', () => {
  it.each(EXPECTED_STATES.map((state) => ({ state, terminal: state === 'committed' || state === 'escalated' })))(
    'When the rotation is $state, then isTerminal is $terminal',
    ({ state, terminal }) => {
      expect(isTerminal(state)).toBe(terminal);
    },
  );

  it('When a state has no outgoing edge, then it is terminal (no rotation can be stuck in a non-terminal dead end)', () => {
    for (const state of ROTATION_STATES) {
      const outgoing = ROTATION_STATES.filter((to) => canTransition(state, to));
      if (outgoing.length === 0) expect(isTerminal(state)).toBe(true);
    }
  });

  it('When every non-terminal state is followed, then committed or escalated is reachable from it', () => {
    for (const start of ROTATION_STATES) {
      const seen = new Set<RotationState>([start]);
      const queue: RotationState[] = [start];
      while (queue.length > 0) {
        const s = queue.shift()!;
        for (const to of ROTATION_STATES) if (canTransition(s, to) && !seen.has(to)) (seen.add(to), queue.push(to));
      }
      expect([...seen].some(isTerminal)).toBe(true);
    }
  });
});

describe('rotation state machine: audit kinds', () => {
  it('When the audit kinds are compared, then every state has its own, so the trail tells the states apart', () => {
    const kinds = ROTATION_STATES.map((s) => ROTATION_AUDIT_KIND[s]);
    expect(kinds.every((k) => typeof k === 'string' && k.length > 0)).toBe(true);
    expect(new Set(kinds).size).toBe(ROTATION_STATES.length);
  });
});

/** Builder: `n` targets, the ones at `canaryAt` marked canary. */
function targets(n: number, canaryAt: number[] = []): Array<{ canary?: boolean; name: string }> {
  return Array.from({ length: n }, (_, i) => ({ name: `t${i}`, ...(canaryAt.includes(i) ? { canary: true } : {}) }));
}

const THRESHOLD = 3;

describe('deploymentPlan', () => {
  it.each([
    { name: 'one target, many endpoints', targets: targets(1), endpoints: 50, expected: { order: [0], canary: null } },
    { name: 'one target marked canary, many endpoints', targets: targets(1, [0]), endpoints: 50, expected: { order: [0], canary: null } },
    { name: 'no targets', targets: targets(0), endpoints: 10, expected: { order: [], canary: null } },
    { name: 'three targets, two endpoints', targets: targets(3), endpoints: 2, expected: { order: [0, 1, 2], canary: null } },
    { name: 'three targets, endpoints exactly at the threshold', targets: targets(3), endpoints: THRESHOLD, expected: { order: [0, 1, 2], canary: null } },
    { name: 'three targets, one endpoint over the threshold', targets: targets(3), endpoints: THRESHOLD + 1, expected: { order: [0, 1, 2], canary: 0 } },
    { name: 'three targets, many endpoints', targets: targets(3), endpoints: 40, expected: { order: [0, 1, 2], canary: 0 } },
    { name: 'three targets, the third marked canary, many endpoints', targets: targets(3, [2]), endpoints: 40, expected: { order: [2, 0, 1], canary: 2 } },
    { name: 'four targets, the third marked canary, many endpoints', targets: targets(4, [2]), endpoints: 40, expected: { order: [2, 0, 1, 3], canary: 2 } },
    { name: 'five targets, the last marked canary', targets: targets(5, [4]), endpoints: 40, expected: { order: [4, 0, 1, 2, 3], canary: 4 } },
    { name: 'three targets, the third marked canary, few endpoints', targets: targets(3, [2]), endpoints: THRESHOLD, expected: { order: [0, 1, 2], canary: null } },
    { name: 'two targets, many endpoints', targets: targets(2), endpoints: 10, expected: { order: [0, 1], canary: 0 } },
  ])('When $name, then the order is $expected.order and the canary $expected.canary', ({ targets: t, endpoints, expected }) => {
    expect(deploymentPlan(t, endpoints, THRESHOLD)).toEqual(expected);
  });

  it('When a target says canary: false, then it is not taken for the canary', () => {
    expect(deploymentPlan([{ canary: false }, { canary: false }, {}], 10, THRESHOLD)).toEqual({ order: [0, 1, 2], canary: 0 });
    expect(deploymentPlan([{ canary: false }, { canary: true }], 10, THRESHOLD)).toEqual({ order: [1, 0], canary: 1 });
  });

  it.each([
    { threshold: 0, endpoints: 0, canary: null },
    { threshold: 0, endpoints: 1, canary: 0 },
    { threshold: 10, endpoints: 10, canary: null },
    { threshold: 10, endpoints: 11, canary: 0 },
  ])('When the threshold is $threshold and the certificate is on $endpoints endpoints, then the canary is $canary', ({ threshold, endpoints, canary }) => {
    expect(deploymentPlan(targets(2), endpoints, threshold).canary).toBe(canary);
  });

  it('When a plan is made, then every target appears exactly once', () => {
    for (const n of [1, 2, 3, 7]) {
      for (let marked = -1; marked < n; marked++) {
        const { order } = deploymentPlan(targets(n, marked >= 0 ? [marked] : []), 100, THRESHOLD);
        expect([...order].sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i));
      }
    }
  });
});
