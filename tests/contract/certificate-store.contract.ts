/**
 * The CertificateStore contract (shared/ports/certificate-store.ts), written once and run against
 * every adapter: `certificateStoreContract('SqliteCertificateStore', makeStore)`. A later Cosmos DB
 * adapter passes the same suite. `makeStore` may be called several times in one test (a reopen):
 * each call after the first must see what earlier stores of the same test wrote.
 */
import {
  ConcurrencyError,
  type CertificateStore,
  type ManagedCertificateState,
} from '../../shared/ports/certificate-store';

export interface StoreHandle {
  store: CertificateStore;
  close(): Promise<void>;
}

import { aCertificate, anObservation } from '../support/observation-builders';

export { aCertificate, anObservation };

export function aManagedState(overrides: Partial<ManagedCertificateState> = {}): ManagedCertificateState {
  return {
    tenantId: 'contoso',
    certificateId: 'www',
    deployedFingerprint: null,
    notAfter: null,
    lastRotation: null,
    version: 0,
    ...overrides,
  };
}

export function certificateStoreContract(name: string, makeStore: () => Promise<StoreHandle>): void {
  describe(`${name} (CertificateStore contract)`, () => {
    const open: StoreHandle[] = [];
    async function aStore(): Promise<CertificateStore> {
      const handle = await makeStore();
      open.push(handle);
      return handle.store;
    }
    afterEach(async () => {
      for (const handle of open.splice(0)) await handle.close();
    });

    describe('observations', () => {
      it('When an observation is put twice, then it is stored once with the latest content', async () => {
        const store = await aStore();
        await store.putObservations('contoso', [anObservation({ sweepId: 'sweep-1' })]);
        await store.putObservations('contoso', [anObservation({ sweepId: 'sweep-1' })]);
        await store.putObservations('contoso', [anObservation({ sweepId: 'sweep-2', daysLeft: 30 })]);

        const stored = await store.listObservations('contoso');
        expect(stored).toEqual([anObservation({ sweepId: 'sweep-2', daysLeft: 30 })]);
      });

      it('When one endpoint resolves to two addresses, then each address is its own record', async () => {
        const store = await aStore();
        await store.putObservations('contoso', [anObservation({ address: '10.0.0.1' }), anObservation({ address: '10.0.0.2' })]);

        expect((await store.listObservations('contoso')).map((o) => o.address)).toEqual(['10.0.0.1', '10.0.0.2']);
      });

      it('When observations are looked up by fingerprint, then only those with that certificate are returned', async () => {
        const store = await aStore();
        const shared = 'cd'.repeat(32);
        await store.putObservations('contoso', [
          anObservation({ endpointId: 'a:443', certificate: aCertificate({ fingerprintSha256: shared }) }),
          anObservation({ endpointId: 'b:443', certificate: aCertificate({ fingerprintSha256: shared }) }),
          anObservation({ endpointId: 'c:443' }),
          anObservation({ endpointId: 'd:443', outcome: 'error', certificate: null, error: { code: 'connection-refused', message: 'refused' } }),
        ]);

        const found = await store.findObservationsByFingerprint('contoso', shared);
        expect(found.map((o) => o.endpointId)).toEqual(['a:443', 'b:443']);
      });

      it('When an observation of another tenant is put under this tenant, then it is refused', async () => {
        const store = await aStore();
        await expect(store.putObservations('contoso', [anObservation({ tenantId: 'fabrikam' })])).rejects.toThrow(/tenant/);
        expect(await store.listObservations('contoso')).toEqual([]);
        expect(await store.listObservations('fabrikam')).toEqual([]);
      });
    });

    describe('tenant isolation', () => {
      it('When two tenants have the same endpoint id and fingerprint, then neither sees the other', async () => {
        const store = await aStore();
        const a = anObservation({ tenantId: 'contoso', sweepId: 'contoso-sweep' });
        const b = anObservation({ tenantId: 'fabrikam', sweepId: 'fabrikam-sweep' });
        await store.putObservations('contoso', [a]);
        await store.putObservations('fabrikam', [b]);

        expect(await store.listObservations('contoso')).toEqual([a]);
        expect(await store.listObservations('fabrikam')).toEqual([b]);
        expect(await store.findObservationsByFingerprint('fabrikam', a.certificate!.fingerprintSha256)).toEqual([b]);
        expect(await store.listObservations('northwind')).toEqual([]);
        expect(await store.listTenants()).toEqual(['contoso', 'fabrikam']);
      });

      it('When two tenants manage a certificate with the same id, then their states and versions are separate', async () => {
        const store = await aStore();
        await store.putManagedState(aManagedState({ tenantId: 'contoso', deployedFingerprint: 'aa' }), 0);
        await store.putManagedState(aManagedState({ tenantId: 'fabrikam', deployedFingerprint: 'bb' }), 0);

        expect((await store.getManagedState('contoso', 'www'))?.deployedFingerprint).toBe('aa');
        expect((await store.getManagedState('fabrikam', 'www'))?.deployedFingerprint).toBe('bb');
        expect(await store.getManagedState('northwind', 'www')).toBeNull();
      });

      it('When tenant A claims a key, then tenant B can still claim the same key', async () => {
        const store = await aStore();
        expect(await store.claim('contoso', 'rotation:www:1')).toBe(true);
        expect(await store.claim('fabrikam', 'rotation:www:1')).toBe(true);
      });

      it('When two tenants keep notification state for the same subject, then each reads its own', async () => {
        const store = await aStore();
        await store.putNotificationState({ tenantId: 'contoso', subjectKey: 'www', stateHash: 'h1', notifiedAt: '2025-03-01T00:00:00.000Z' });
        await store.putNotificationState({ tenantId: 'fabrikam', subjectKey: 'www', stateHash: 'h2', notifiedAt: '2025-03-02T00:00:00.000Z' });

        expect((await store.getNotificationState('contoso', 'www'))?.stateHash).toBe('h1');
        expect((await store.getNotificationState('fabrikam', 'www'))?.stateHash).toBe('h2');
      });
    });

    describe('managed state (optimistic concurrency)', () => {
      it('When a state is created and updated with the right versions, then each write bumps the version', async () => {
        const store = await aStore();
        const created = await store.putManagedState(aManagedState(), 0);
        const updated = await store.putManagedState({ ...created, deployedFingerprint: 'ff' }, created.version);

        expect(created.version).toBe(1);
        expect(updated.version).toBe(2);
        expect(await store.getManagedState('contoso', 'www')).toEqual(updated);
      });

      it.each([
        { case: 'creating a state that already exists', setup: 1, expectedVersion: 0 },
        { case: 'updating with a stale version', setup: 2, expectedVersion: 1 },
        { case: 'updating a state that does not exist', setup: 0, expectedVersion: 3 },
      ])('When $case, then ConcurrencyError is thrown and nothing changes', async ({ setup, expectedVersion }) => {
        const store = await aStore();
        let current: ManagedCertificateState | null = null;
        for (let i = 0; i < setup; i++) current = await store.putManagedState(aManagedState({ notAfter: `v${i}` }), i);

        await expect(store.putManagedState(aManagedState({ notAfter: 'lost' }), expectedVersion)).rejects.toBeInstanceOf(ConcurrencyError);
        expect(await store.getManagedState('contoso', 'www')).toEqual(current);
      });

      it('When two writers race from the same version, then exactly one wins', async () => {
        const store = await aStore();
        const base = await store.putManagedState(aManagedState(), 0);
        const results = await Promise.allSettled(
          ['x', 'y', 'z'].map((fp) => store.putManagedState({ ...base, deployedFingerprint: fp }, base.version)),
        );

        expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
        const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
        expect(rejected).toHaveLength(2);
        for (const r of rejected) expect(r.reason).toBeInstanceOf(ConcurrencyError);
      });
    });

    describe('renewal windows', () => {
      it('When a window is stored and replaced, then the latest is read back, for that tenant only', async () => {
        const store = await aStore();
        const w = { tenantId: 'contoso', certId: 'aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE', start: '2025-01-02T04:00:00.000Z', end: '2025-01-03T04:00:00.000Z', seenAt: '2025-01-01T00:00:00.000Z' };
        await store.putRenewalWindow(w);
        await store.putRenewalWindow({ ...w, start: '2024-12-30T00:00:00.000Z' });
        expect(await store.getRenewalWindow('contoso', w.certId)).toEqual({ ...w, start: '2024-12-30T00:00:00.000Z' });
        expect(await store.getRenewalWindow('fabrikam', w.certId)).toBeNull();
      });
    });

    describe('claims', () => {
      it('When a key is claimed twice, then only the first claim succeeds', async () => {
        const store = await aStore();
        expect(await store.claim('contoso', 'notify:1')).toBe(true);
        expect(await store.claim('contoso', 'notify:1')).toBe(false);
      });

      it('When many claims of one key race, including from a second connection, then exactly one succeeds', async () => {
        const first = await aStore();
        const second = await aStore();
        const attempts = Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? first : second).claim('contoso', 'rotation:www:7'));

        const outcomes = await Promise.all(attempts);
        expect(outcomes.filter(Boolean)).toHaveLength(1);
      });

      it('When a claim is released, then it can be claimed again, and only by that tenant\'s release', async () => {
        const store = await aStore();
        expect(await store.claim('contoso', 'rotate:1')).toBe(true);
        expect(await store.claim('fabrikam', 'rotate:1')).toBe(true);
        await store.releaseClaim('fabrikam', 'rotate:1');
        expect(await store.claim('contoso', 'rotate:1')).toBe(false);
        await store.releaseClaim('contoso', 'rotate:1');
        await store.releaseClaim('contoso', 'never-claimed');
        expect(await store.claim('contoso', 'rotate:1')).toBe(true);
      });
    });

    describe('durability', () => {
      it('When the store is closed and opened again, then everything written is still there', async () => {
        const before = await makeStore();
        await before.store.putObservations('contoso', [anObservation()]);
        const state = await before.store.putManagedState(aManagedState({ deployedFingerprint: 'ee' }), 0);
        await before.store.putNotificationState({ tenantId: 'contoso', subjectKey: 'www', stateHash: 'h', notifiedAt: '2025-03-01T00:00:00.000Z' });
        await before.store.claim('contoso', 'once');
        await before.close();

        const after = await aStore();
        expect(await after.listObservations('contoso')).toEqual([anObservation()]);
        expect(await after.getManagedState('contoso', 'www')).toEqual(state);
        expect((await after.getNotificationState('contoso', 'www'))?.stateHash).toBe('h');
        expect(await after.claim('contoso', 'once')).toBe(false);
      });
    });
  });
}
