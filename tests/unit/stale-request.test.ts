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
const afterCommit = { lastRotation: { at: committedAt, outcome: 'committed' as const, fromFingerprint: A, toFingerprint: B, reason: 'Expiring' }, deployedFingerprint: B, replacedFingerprints: [A] };

describe('staleRequest', () => {
  it.each([
    { name: 'nothing deployed by certops yet', doc: { deployedFingerprint: null, lastRotation: null }, from: A, observedAt: '2026-12-01T09:00:00.000Z', stale: false },
    { name: 'the request replaces what certops deployed', doc: afterCommit, from: B, observedAt: '2026-12-01T09:00:00.000Z', stale: false },
    { name: 'the request replaces what certops already replaced, observed before the commit', doc: afterCommit, from: A, observedAt: '2026-12-01T09:59:59.000Z', stale: true },
    { name: 'the request replaces what certops already replaced, whatever its times (observed after the commit)', doc: afterCommit, from: A, observedAt: '2026-12-01T11:00:00.000Z', stale: true },
    { name: 'an unknown certificate observed before certops deployed', doc: afterCommit, from: C, observedAt: '2026-12-01T09:00:00.000Z', stale: true },
    { name: 'an unknown certificate observed after certops deployed (a human replaced it)', doc: afterCommit, from: C, observedAt: '2026-12-01T11:00:00.000Z', stale: false },
    { name: 'nothing was served when observed, before the commit', doc: afterCommit, from: null, observedAt: '2026-12-01T09:00:00.000Z', stale: true },
  ])('When $name, then stale is $stale', ({ doc, from, observedAt, stale }) => {
    expect(staleRequest(doc, { fromFingerprint: from, observedAt }) !== null).toBe(stale);
  });
});
