/**
 * The GovernanceStore contract (shared/ports/governance-store.ts), written once and run against
 * every adapter: `governanceStoreContract('SqliteGovernanceStore', makeStore)`. `makeStore` may be
 * called several times in one test (a second writer, or a reopen): each call must open the same
 * underlying data, so a later store sees what earlier stores of the same test wrote.
 */
import type { ActionType } from '../../shared/domain/gate-policy';
import {
  ConcurrencyError,
  MAX_GATE_OUTCOMES,
  type DigestItem,
  type GateState,
  type GovernanceStore,
  type L1Outcome,
  type PendingApproval,
  type Snooze,
} from '../../shared/ports/governance-store';
import type { Notification } from '../../shared/ports/notifier';

export interface GovernanceStoreHandle {
  store: GovernanceStore;
  close(): Promise<void>;
}

const A = 'contoso';
const B = 'fabrikam';

/** The natural keys both tenants use in the isolation tests: same keys, different tenants. */
export const SHARED_KEYS = {
  action: 'rotate' as ActionType,
  approvalId: 'approval-1',
  subjectKey: 'www.msp.test:443',
  digestId: 'notification-1',
};

export function anOutcome(overrides: Partial<L1Outcome> = {}): L1Outcome {
  return { at: '2025-03-01T00:00:00.000Z', rotationId: 'sweep-1:www', outcome: 'accepted', ...overrides };
}

export function aGateState(overrides: Partial<GateState> = {}): GateState {
  return {
    tenantId: A,
    action: 'rotate',
    raisedTo: null,
    raisedBy: null,
    raisedAt: null,
    reason: null,
    outcomes: [anOutcome()],
    acceptedRun: 0,
    version: 0,
    ...overrides,
  };
}

export function anApproval(overrides: Partial<PendingApproval> = {}): PendingApproval {
  return {
    tenantId: A,
    approvalId: 'approval-1',
    certificateId: 'www',
    action: 'revoke',
    requestedAt: '2025-03-01T00:00:00.000Z',
    expiresAt: '2025-03-02T00:00:00.000Z',
    status: 'pending',
    request: {
      specversion: '1.0',
      id: 'evt-1',
      source: '/certops/gate',
      type: 'com.certops.rotation.requested.v1',
      data: { tenantId: overrides.tenantId ?? A, certificateId: 'www', reasons: ['expiring'], attempt: 1 },
    },
    decidedBy: null,
    decidedAt: null,
    reason: null,
    version: 0,
    ...overrides,
  };
}

export function aSnooze(overrides: Partial<Snooze> = {}): Snooze {
  return { tenantId: A, subjectKey: 'www.contoso.test:443', until: '2025-03-08T00:00:00.000Z', by: 'alex@msp.test', reason: 'maintenance window', ...overrides };
}

export function aNotification(overrides: Partial<Notification> = {}): Notification {
  return {
    id: 'notification-1',
    tenantId: A,
    kind: 'rotation-completed',
    severity: 'info',
    title: 'Rotated www',
    text: 'www.contoso.test now serves a new certificate.',
    to: { name: 'Alex', email: 'alex@msp.test' },
    subject: { certificateId: 'www' },
    facts: { daysLeft: 90 },
    occurredAt: '2025-03-01T00:00:00.000Z',
    correlationId: 'corr-1',
    ...overrides,
  };
}

export function aDigestItem(overrides: Partial<DigestItem> = {}): DigestItem {
  const tenantId = overrides.tenantId ?? A;
  const id = overrides.id ?? 'notification-1';
  return { tenantId, id, notification: aNotification({ tenantId, id }), queuedAt: '2025-03-01T00:00:00.000Z', ...overrides };
}

/** Every kind of record for `tenantId`, under SHARED_KEYS; gate state and approval at version 1. */
export async function seedTenant(store: GovernanceStore, tenantId: string): Promise<void> {
  await store.putGateState(aGateState({ tenantId, action: SHARED_KEYS.action, reason: `${tenantId} reason`, raisedTo: 'L2', raisedBy: 'escalation' }), 0);
  await store.putApproval(anApproval({ tenantId, approvalId: SHARED_KEYS.approvalId, certificateId: `${tenantId}-cert` }), 0);
  await store.putSnooze(aSnooze({ tenantId, subjectKey: SHARED_KEYS.subjectKey, by: `${tenantId}-admin` }));
  await store.queueDigest(aDigestItem({ tenantId, id: SHARED_KEYS.digestId, notification: aNotification({ tenantId, id: SHARED_KEYS.digestId, title: `${tenantId} title` }) }));
}

/** Everything the store returns for `tenantId` under SHARED_KEYS, by every read method. */
export async function everythingOf(store: GovernanceStore, tenantId: string): Promise<unknown> {
  return {
    gate: await store.getGateState(tenantId, SHARED_KEYS.action),
    gates: await store.listGateStates(tenantId),
    approval: await store.getApproval(tenantId, SHARED_KEYS.approvalId),
    approvals: await store.listApprovals(tenantId),
    pending: await store.listApprovals(tenantId, 'pending'),
    snooze: await store.getSnooze(tenantId, SHARED_KEYS.subjectKey),
    digest: await store.listDigest(tenantId),
  };
}

/** One call of every method for `tenantId`, with the natural keys another tenant was seeded with. */
export function callsAsTenant(store: () => GovernanceStore, tenantId: string): Array<{ method: string; call: () => Promise<unknown> }> {
  return [
    { method: 'getGateState', call: () => store().getGateState(tenantId, SHARED_KEYS.action) },
    { method: 'putGateState (update at the other tenant\'s version)', call: () => store().putGateState(aGateState({ tenantId, action: SHARED_KEYS.action, reason: 'hijack' }), 1) },
    { method: 'putGateState (create)', call: () => store().putGateState(aGateState({ tenantId, action: SHARED_KEYS.action, reason: `${tenantId} own` }), 0) },
    { method: 'listGateStates', call: () => store().listGateStates(tenantId) },
    { method: 'getApproval', call: () => store().getApproval(tenantId, SHARED_KEYS.approvalId) },
    { method: 'putApproval (decide at the other tenant\'s version)', call: () => store().putApproval(anApproval({ tenantId, approvalId: SHARED_KEYS.approvalId, status: 'approved', decidedBy: 'mallory' }), 1) },
    { method: 'putApproval (create)', call: () => store().putApproval(anApproval({ tenantId, approvalId: SHARED_KEYS.approvalId, certificateId: `${tenantId}-own` }), 0) },
    { method: 'listApprovals', call: () => store().listApprovals(tenantId) },
    { method: 'listApprovals (by status)', call: () => store().listApprovals(tenantId, 'pending') },
    { method: 'putSnooze', call: () => store().putSnooze(aSnooze({ tenantId, subjectKey: SHARED_KEYS.subjectKey, until: '2099-01-01T00:00:00.000Z' })) },
    { method: 'getSnooze', call: () => store().getSnooze(tenantId, SHARED_KEYS.subjectKey) },
    { method: 'deleteSnooze', call: () => store().deleteSnooze(tenantId, SHARED_KEYS.subjectKey) },
    { method: 'queueDigest', call: () => store().queueDigest(aDigestItem({ tenantId, id: SHARED_KEYS.digestId, queuedAt: '2024-01-01T00:00:00.000Z' })) },
    { method: 'listDigest', call: () => store().listDigest(tenantId) },
    { method: 'clearDigest', call: () => store().clearDigest(tenantId, [SHARED_KEYS.digestId]) },
  ];
}

/** The two optimistic records, so that one table covers both. */
const versionedKinds = [
  {
    kind: 'gate state',
    put: (s: GovernanceStore, n: string, v: number) => s.putGateState(aGateState({ reason: n }), v),
    get: (s: GovernanceStore) => s.getGateState(A, 'rotate'),
  },
  {
    kind: 'approval',
    put: (s: GovernanceStore, n: string, v: number) => s.putApproval(anApproval({ reason: n }), v),
    get: (s: GovernanceStore) => s.getApproval(A, 'approval-1'),
  },
];

export function governanceStoreContract(name: string, makeStore: () => Promise<GovernanceStoreHandle>): void {
  describe(`${name} (GovernanceStore contract)`, () => {
    const open: GovernanceStoreHandle[] = [];
    async function aStore(): Promise<GovernanceStore> {
      const handle = await makeStore();
      open.push(handle);
      return handle.store;
    }
    afterEach(async () => {
      for (const handle of open.splice(0)) await handle.close();
    });

    describe('gate states', () => {
      it('When gate states are put, then each reads back whole, at version 1, and the list is ordered by action', async () => {
        const store = await aStore();
        const raised = aGateState({ action: 'rotate', raisedTo: 'L2', raisedBy: 'override-rate', raisedAt: '2025-03-02T00:00:00.000Z', reason: '3 of 10 overridden', acceptedRun: 2 });
        const stored = await store.putGateState(raised, 0);
        await store.putGateState(aGateState({ action: 'renew' }), 0);

        expect(stored).toEqual({ ...raised, version: 1 });
        expect(await store.getGateState(A, 'rotate')).toEqual(stored);
        expect(await store.getGateState(A, 'revoke')).toBeNull();
        expect((await store.listGateStates(A)).map((s) => [s.action, s.version])).toEqual([['renew', 1], ['rotate', 1]]);
      });

      it(`When more than ${MAX_GATE_OUTCOMES} outcomes are put, then only the newest ${MAX_GATE_OUTCOMES} are kept, newest last`, async () => {
        const store = await aStore();
        const outcomes = Array.from({ length: MAX_GATE_OUTCOMES + 10 }, (_, i) => anOutcome({ rotationId: `r${i}`, outcome: i % 7 === 0 ? 'overridden' : 'accepted' }));
        const returned = await store.putGateState(aGateState({ outcomes }), 0);

        const stored = await store.getGateState(A, 'rotate');
        expect(stored?.outcomes).toEqual(outcomes.slice(10));
        expect(returned).toEqual(stored);
      });
    });

    describe.each(versionedKinds)('$kind (optimistic concurrency)', ({ put, get }) => {
      it('When it is created and updated with the right versions, then each write bumps the version', async () => {
        const store = await aStore();
        const created = await put(store, 'first', 0);
        const updated = await put(store, 'second', created.version);

        expect([created.version, updated.version]).toEqual([1, 2]);
        expect(await get(store)).toEqual(updated);
        expect((await get(store))?.reason).toBe('second');
      });

      it.each([
        { case: 'creating one that already exists', setup: 1, expectedVersion: 0 },
        { case: 'updating with a stale version', setup: 2, expectedVersion: 1 },
        { case: 'updating one that does not exist', setup: 0, expectedVersion: 3 },
      ])('When $case, then ConcurrencyError is thrown and nothing changes', async ({ setup, expectedVersion }) => {
        const store = await aStore();
        let current: GateState | PendingApproval | null = null;
        for (let i = 0; i < setup; i++) current = await put(store, `v${i}`, i);

        await expect(put(store, 'lost', expectedVersion)).rejects.toBeInstanceOf(ConcurrencyError);
        expect(await get(store)).toEqual(current);
      });

      it('When two writers on two connections write from the same version, then one wins and the other gets ConcurrencyError', async () => {
        const first = await aStore();
        const second = await aStore();
        await put(first, 'base', 0);
        await get(second); // warm: both writers' requests then go out together

        const results = await Promise.allSettled([put(first, 'writer-1', 1), put(second, 'writer-2', 1)]);

        const won = results.filter((r): r is PromiseFulfilledResult<GateState | PendingApproval> => r.status === 'fulfilled');
        const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
        expect(won).toHaveLength(1);
        expect(lost).toHaveLength(1);
        expect(lost[0].reason).toBeInstanceOf(ConcurrencyError);
        expect(await get(second)).toEqual(won[0].value);
      });
    });

    describe('approvals', () => {
      it('When an approval is put, then it reads back whole, its gated request included', async () => {
        const store = await aStore();
        const approval = anApproval();
        await store.putApproval(approval, 0);

        expect(await store.getApproval(A, 'approval-1')).toEqual({ ...approval, version: 1 });
        expect(await store.getApproval(A, 'approval-2')).toBeNull();
      });

      it('When approvals are listed by status, then only that status is returned, by requestedAt then id', async () => {
        const store = await aStore();
        const cases: Array<[string, PendingApproval['status'], string]> = [
          ['p-late', 'pending', '2025-03-03T00:00:00.000Z'],
          ['d-1', 'denied', '2025-03-01T00:00:00.000Z'],
          ['p-b', 'pending', '2025-03-01T00:00:00.000Z'],
          ['a-1', 'approved', '2025-03-02T00:00:00.000Z'],
          ['p-a', 'pending', '2025-03-01T00:00:00.000Z'],
          ['x-1', 'expired', '2025-02-01T00:00:00.000Z'],
        ];
        for (const [approvalId, status, requestedAt] of cases) await store.putApproval(anApproval({ approvalId, status, requestedAt }), 0);

        const ids = async (status?: PendingApproval['status']) => (await store.listApprovals(A, status)).map((a) => a.approvalId);
        expect(await ids('pending')).toEqual(['p-a', 'p-b', 'p-late']);
        expect(await ids('approved')).toEqual(['a-1']);
        expect(await ids('denied')).toEqual(['d-1']);
        expect(await ids('expired')).toEqual(['x-1']);
        expect(await ids()).toEqual(['x-1', 'd-1', 'p-a', 'p-b', 'a-1', 'p-late']);
      });

      it('When a pending approval is decided, then it leaves the pending list and appears under its decision', async () => {
        const store = await aStore();
        const pending = await store.putApproval(anApproval(), 0);
        await store.putApproval({ ...pending, status: 'denied', decidedBy: 'alex@msp.test', decidedAt: '2025-03-01T01:00:00.000Z', reason: 'not now' }, pending.version);

        expect(await store.listApprovals(A, 'pending')).toEqual([]);
        expect((await store.listApprovals(A, 'denied')).map((a) => [a.approvalId, a.decidedBy, a.version])).toEqual([['approval-1', 'alex@msp.test', 2]]);
      });

      it('When two humans decide one approval at once, then one decision is stored and the other gets ConcurrencyError', async () => {
        const first = await aStore();
        const second = await aStore();
        const pending = await first.putApproval(anApproval(), 0);
        await second.getApproval(A, pending.approvalId); // warm: both decisions' requests then go out together
        const decide = (store: GovernanceStore, status: 'approved' | 'denied', by: string) =>
          store.putApproval({ ...pending, status, decidedBy: by, decidedAt: '2025-03-01T01:00:00.000Z' }, pending.version);

        const results = await Promise.allSettled([decide(first, 'approved', 'alex'), decide(second, 'denied', 'sam')]);

        const won = results.filter((r): r is PromiseFulfilledResult<PendingApproval> => r.status === 'fulfilled');
        const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
        expect(won).toHaveLength(1);
        expect(lost.map((r) => r.reason)).toEqual([expect.any(ConcurrencyError)]);
        const stored = await second.getApproval(A, 'approval-1');
        expect(stored).toEqual(won[0].value);
        expect(await second.listApprovals(A, 'pending')).toEqual([]);
      });
    });

    describe('snoozes', () => {
      it('When a snooze is put, put again and deleted, then reads follow each step', async () => {
        const store = await aStore();
        const snooze = aSnooze();
        await store.putSnooze(snooze);
        expect(await store.getSnooze(A, snooze.subjectKey)).toEqual(snooze);

        const extended = { ...snooze, until: '2025-04-01T00:00:00.000Z', reason: 'extended' };
        await store.putSnooze(extended);
        expect(await store.getSnooze(A, snooze.subjectKey)).toEqual(extended);

        await store.deleteSnooze(A, snooze.subjectKey);
        expect(await store.getSnooze(A, snooze.subjectKey)).toBeNull();
        await expect(store.deleteSnooze(A, snooze.subjectKey)).resolves.toBeUndefined();
      });

      it('When a snooze has passed its until, then it is still returned (the caller compares with its clock)', async () => {
        const store = await aStore();
        await store.putSnooze(aSnooze({ until: '2000-01-01T00:00:00.000Z' }));
        expect((await store.getSnooze(A, aSnooze().subjectKey))?.until).toBe('2000-01-01T00:00:00.000Z');
      });
    });

    describe('digest queue', () => {
      it('When items are queued out of order, then they are listed oldest first, ties by id', async () => {
        const store = await aStore();
        for (const [id, queuedAt] of [['n-c', '2025-03-01T03:00:00.000Z'], ['n-b', '2025-03-01T01:00:00.000Z'], ['n-a', '2025-03-01T01:00:00.000Z'], ['n-0', '2025-03-01T02:00:00.000Z']]) {
          await store.queueDigest(aDigestItem({ id, queuedAt }));
        }

        expect((await store.listDigest(A)).map((i) => i.id)).toEqual(['n-a', 'n-b', 'n-0', 'n-c']);
      });

      it('When the same notification is queued twice, then one item is kept: the first, in its place', async () => {
        const store = await aStore();
        const first = aDigestItem({ id: 'n-1', queuedAt: '2025-03-01T01:00:00.000Z' });
        await store.queueDigest(first);
        await store.queueDigest(aDigestItem({ id: 'n-2', queuedAt: '2025-03-01T02:00:00.000Z' }));
        await store.queueDigest({ ...first, queuedAt: '2025-03-01T03:00:00.000Z', notification: aNotification({ id: 'n-1', title: 'redelivered' }) });

        const queued = await store.listDigest(A);
        expect(queued.map((i) => i.id)).toEqual(['n-1', 'n-2']);
        expect(queued[0]).toEqual(first);
      });

      it('When some ids are cleared, then exactly the others remain, and unknown ids are ignored', async () => {
        const store = await aStore();
        for (const [i, id] of ['n-1', 'n-2', 'n-3', 'n-4'].entries()) await store.queueDigest(aDigestItem({ id, queuedAt: `2025-03-01T0${i}:00:00.000Z` }));

        await store.clearDigest(A, ['n-1', 'n-3', 'never-queued']);
        expect((await store.listDigest(A)).map((i) => i.id)).toEqual(['n-2', 'n-4']);
        await store.clearDigest(A, []);
        expect((await store.listDigest(A)).map((i) => i.id)).toEqual(['n-2', 'n-4']);
      });

      it('When an item is queued for one tenant with another tenant\'s notification, then it is refused', async () => {
        const store = await aStore();
        await expect(store.queueDigest(aDigestItem({ tenantId: A, notification: aNotification({ tenantId: B }) }))).rejects.toThrow(/mixed tenants/);
        expect(await store.listDigest(A)).toEqual([]);
        expect(await store.listDigest(B)).toEqual([]);
      });
    });

    describe('tenant isolation', () => {
      it('When tenant A reads with the keys tenant B has records under, then every read finds nothing', async () => {
        const store = await aStore();
        await seedTenant(store, B);

        expect(await everythingOf(store, A)).toEqual({ gate: null, gates: [], approval: null, approvals: [], pending: [], snooze: null, digest: [] });
      });

      it('When every method is called for tenant A with tenant B\'s keys, then B reads exactly what it had', async () => {
        const store = await aStore();
        await seedTenant(store, B);
        const before = await everythingOf(store, B);

        for (const { call } of callsAsTenant(() => store, A)) await call().catch(() => undefined);

        expect(await everythingOf(store, B)).toEqual(before);
      });

      it('When both tenants write under the same keys, then each reads only its own records, at its own versions', async () => {
        const store = await aStore();
        await seedTenant(store, B);
        await seedTenant(store, A);
        await store.putGateState({ ...(await store.getGateState(A, SHARED_KEYS.action))!, acceptedRun: 5 }, 1);
        await store.clearDigest(A, [SHARED_KEYS.digestId]);
        await store.deleteSnooze(A, SHARED_KEYS.subjectKey);

        expect((await store.getGateState(A, SHARED_KEYS.action))?.version).toBe(2);
        expect((await store.getGateState(B, SHARED_KEYS.action))?.version).toBe(1);
        expect((await store.listGateStates(B)).map((s) => s.reason)).toEqual([`${B} reason`]);
        expect((await store.listApprovals(A)).map((a) => a.certificateId)).toEqual([`${A}-cert`]);
        expect((await store.listApprovals(B, 'pending')).map((a) => a.certificateId)).toEqual([`${B}-cert`]);
        expect(await store.getSnooze(A, SHARED_KEYS.subjectKey)).toBeNull();
        expect((await store.getSnooze(B, SHARED_KEYS.subjectKey))?.by).toBe(`${B}-admin`);
        expect(await store.listDigest(A)).toEqual([]);
        expect((await store.listDigest(B)).map((i) => i.notification.title)).toEqual([`${B} title`]);
      });
    });

    describe('durability', () => {
      it('When the store is closed and opened again, then everything written is still there', async () => {
        const before = await makeStore();
        await seedTenant(before.store, A);
        const written = await everythingOf(before.store, A);
        await before.close();

        const after = await aStore();
        expect(await everythingOf(after, A)).toEqual(written);
        expect((written as { gate: GateState | null }).gate?.version).toBe(1);
        await expect(after.putGateState(aGateState(), 0)).rejects.toBeInstanceOf(ConcurrencyError);
      });
    });
  });
}
