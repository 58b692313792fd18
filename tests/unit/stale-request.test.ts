/**
 * Issue 11, defect 11: which renewal requests rest on a stale observation (rotation-engine's
 * staleRequest). The end-to-end proof with crashes and overlapping sweeps is
 * tests/e2e/stale-observation-rotation.test.ts; these are the rule's cases.
 */
import { staleRequest } from '../../shared/pipeline/rotation-engine';

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);
const C = 'c'.repeat(64);
const committedAt = '2026-12-01T10:00:00.000Z';
const afterCommit = { lastRotation: { at: committedAt, outcome: 'committed' as const, fromFingerprint: A, toFingerprint: B, reason: 'Expiring' }, deployedFingerprint: B, deployedAt: committedAt };
const afterFailure = { ...afterCommit, lastRotation: { at: '2026-12-02T10:00:00.000Z', outcome: 'failed' as const, fromFingerprint: B, toFingerprint: null, reason: 'deploy failed' } };

describe('staleRequest', () => {
  it.each([
    { name: 'nothing deployed by certops yet', doc: { deployedFingerprint: null, deployedAt: null, lastRotation: null }, from: A, observedAt: '2026-12-01T09:00:00.000Z', stale: false },
    { name: 'the request replaces what certops deployed', doc: afterCommit, from: B, observedAt: '2026-12-01T09:00:00.000Z', stale: false },
    { name: 'the request replaces what certops already replaced, observed before the commit (a redelivery, an overlapping sweep)', doc: afterCommit, from: A, observedAt: '2026-12-01T09:59:59.000Z', stale: true },
    { name: 'the request was gated or delivered long after the commit but observed before it', doc: afterCommit, from: A, observedAt: '2026-12-01T09:30:00.000Z', stale: true },
    { name: 'an observation within the clock skew allowance after the commit still shows the old certificate', doc: afterCommit, from: A, observedAt: '2026-12-01T10:00:30.000Z', stale: true },
    { name: 'a human put the replaced certificate back, and a later sweep sees it', doc: afterCommit, from: A, observedAt: '2026-12-01T11:00:00.000Z', stale: false },
    { name: 'an unknown certificate observed after certops deployed (a human replaced it)', doc: afterCommit, from: C, observedAt: '2026-12-01T11:00:00.000Z', stale: false },
    { name: 'nothing was served when observed, before the commit', doc: afterCommit, from: null, observedAt: '2026-12-01T09:00:00.000Z', stale: true },
    { name: 'a later failed rotation does not make an observation after the deployment stale', doc: afterFailure, from: C, observedAt: '2026-12-01T12:00:00.000Z', stale: false },
    { name: 'a record from before deployedAt existed falls back to the last commit', doc: { ...afterCommit, deployedAt: undefined }, from: A, observedAt: '2026-12-01T09:00:00.000Z', stale: true },
  ])('When $name, then stale is $stale', ({ doc, from, observedAt, stale }) => {
    expect(staleRequest(doc, { fromFingerprint: from, observedAt }) !== null).toBe(stale);
  });
});
