import { learnFrom, type LearningState, type LearnedOutcome } from '../../shared/domain/override-learning';

const fresh: LearningState = { raisedTo: null, raisedBy: null, raisedAt: null, reason: null, outcomes: [], acceptedRun: 0 };
let n = 0;
const anOutcome = (outcome: LearnedOutcome['outcome'], rotationId = `r${++n}`): LearnedOutcome => ({ at: `2026-11-29T00:00:${String(n % 60).padStart(2, '0')}Z`, rotationId, outcome });

/** Feeds outcomes one by one; returns the final state and the index (1-based) at which each change happened. */
function feed(start: LearningState, outcomes: LearnedOutcome[], rules = {}) {
  let state = start;
  const changes: Array<{ at: number; kind: string }> = [];
  outcomes.forEach((o, i) => {
    const r = learnFrom(state, o, rules);
    state = r.state;
    if (r.change) changes.push({ at: i + 1, kind: r.change.kind });
  });
  return { state, changes };
}

it('When ten actions in a row are overridden, then the pair moves to L2 at the tenth and not before', () => {
  const { state, changes } = feed(fresh, Array.from({ length: 10 }, () => anOutcome('overridden')));
  expect(changes).toEqual([{ at: 10, kind: 'raised' }]);
  expect(state).toMatchObject({ raisedTo: 'L2', raisedBy: 'override-rate', acceptedRun: 0 });
  expect(state.reason).toBe('10 of the last 10 actions were overridden (rate 1.00, threshold 0.5)');
});

it('When the configured run of accepted actions follows, then the learned raise is lifted, and not one action earlier', () => {
  const raised = feed(fresh, Array.from({ length: 10 }, () => anOutcome('overridden'))).state;
  const { state, changes } = feed(raised, Array.from({ length: 5 }, () => anOutcome('accepted')));
  expect(changes).toEqual([{ at: 5, kind: 'relaxed' }]);
  expect(state).toMatchObject({ raisedTo: null, raisedBy: null, acceptedRun: 0 });
  // The window starts afresh: one more override does not raise it again at once.
  expect(learnFrom(state, anOutcome('overridden')).change).toBeNull();
});

it('When an override interrupts the run of accepted actions, then the run starts again', () => {
  const raised = feed(fresh, Array.from({ length: 10 }, () => anOutcome('overridden'))).state;
  const { changes } = feed(raised, [...Array.from({ length: 4 }, () => anOutcome('accepted')), anOutcome('overridden'), ...Array.from({ length: 4 }, () => anOutcome('accepted'))]);
  expect(changes).toEqual([]);
});

it.each([
  ['mostly accepted', [...Array(7).fill('accepted'), ...Array(3).fill('overridden')], []],
  ['half overridden, at the threshold', [...Array(5).fill('accepted'), ...Array(5).fill('overridden')], [{ at: 10, kind: 'raised' }]],
  ['too few actions yet', Array(9).fill('overridden'), []],
])('When the outcomes are %s, then the changes are %j', (_case, kinds, expected) => {
  expect(feed(fresh, (kinds as LearnedOutcome['outcome'][]).map((k) => anOutcome(k))).changes).toEqual(expected);
});

it('When an accepted action is overridden later, then it counts once, as overridden', () => {
  const accepted = anOutcome('accepted', 'same');
  const later = { ...accepted, outcome: 'overridden' as const };
  const { state } = feed(fresh, [accepted, later]);
  expect(state.outcomes).toEqual([later]);
  expect(state.acceptedRun).toBe(0);
});

it('When a human escalated the pair, then accepted actions never lift it (a human does)', () => {
  const escalated: LearningState = { ...fresh, raisedTo: 'L2', raisedBy: 'escalation', raisedAt: 'x', reason: 'asked by Dana' };
  const { state, changes } = feed(escalated, Array.from({ length: 20 }, () => anOutcome('accepted')));
  expect(changes).toEqual([]);
  expect(state.raisedTo).toBe('L2');
});

it('When rules are configured, then window, threshold, minimum and run follow them', () => {
  const rules = { window: 4, minActions: 4, overrideRate: 0.75, relaxAfter: 2 };
  const { changes } = feed(fresh, [anOutcome('overridden'), anOutcome('accepted'), anOutcome('overridden'), anOutcome('overridden'), anOutcome('accepted'), anOutcome('accepted')], rules);
  expect(changes).toEqual([
    { at: 4, kind: 'raised' },
    { at: 6, kind: 'relaxed' },
  ]);
});
