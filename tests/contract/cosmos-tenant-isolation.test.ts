/**
 * Tenant isolation of the Cosmos DB adapters, with the real @azure/cosmos SDK against
 * @vercel/cosmosdb-server. Two things are shown:
 * 1. Behaviour: calling every method for tenant contoso with fabrikam's natural keys neither reads
 *    nor changes any of fabrikam's documents (compared with their ETags before and after).
 * 2. Wire: every request that touches documents, as the server received it, carries the partition
 *    key header of the tenant the method was called for. The exceptions are named: the SDK's
 *    query-plan requests (they never carry one; the service answers them with a plan, not
 *    documents; the test server runs them as queries, which the adapters' `c.tenantId` filter
 *    covers), and `listTenants`, the platform-admin read across partitions.
 */
import type { Container } from '@azure/cosmos';
import { CosmosCertificateStore } from '../../shared/adapters/azure/cosmos-certificate-store';
import { CosmosAcmeOrderJournal } from '../../shared/adapters/azure/cosmos-order-journal';
import type { CertificateStore } from '../../shared/ports/certificate-store';
import { useCosmosServer, type RecordedCosmosRequest } from '../support/cosmos-server';
import { aCertificate, aManagedState, anObservation } from './certificate-store.contract';
import { anOrder } from './order-journal.contract';

const A = 'contoso';
const B = 'fabrikam';
const B_KEYS = {
  endpointId: 'shared.msp.test:443',
  address: '10.0.0.9',
  fingerprint: 'fb'.repeat(32),
  certificateId: 'www',
  subjectKey: 'www.msp.test',
  certId: 'aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE',
  claim: 'rotation:sweep-1:www',
};

const cosmos = useCosmosServer();
let state: Container;
let store: CosmosCertificateStore;
let journal: CosmosAcmeOrderJournal;

beforeEach(async () => {
  ({ state } = cosmos);
  store = new CosmosCertificateStore(state);
  journal = new CosmosAcmeOrderJournal(state);
  await seedTenantB(store, journal);
});

async function seedTenantB(s: CertificateStore, j: CosmosAcmeOrderJournal): Promise<void> {
  await s.putObservations(B, [
    anObservation({ tenantId: B, endpointId: B_KEYS.endpointId, address: B_KEYS.address, sweepId: 'fabrikam-sweep', certificate: aCertificate({ fingerprintSha256: B_KEYS.fingerprint }) }),
  ]);
  await s.putManagedState(aManagedState({ tenantId: B, certificateId: B_KEYS.certificateId, deployedFingerprint: 'fabrikam-fp' }), 0);
  await s.putNotificationState({ tenantId: B, subjectKey: B_KEYS.subjectKey, stateHash: 'fabrikam-hash', notifiedAt: '2025-03-01T00:00:00.000Z' });
  await s.putRenewalWindow({ tenantId: B, certId: B_KEYS.certId, start: '2025-03-10T00:00:00.000Z', end: '2025-03-11T00:00:00.000Z', seenAt: '2025-03-01T00:00:00.000Z' });
  expect(await s.claim(B, B_KEYS.claim)).toBe(true);
  await j.save(anOrder({ tenantId: B, certificateId: B_KEYS.certificateId, orderUrl: 'https://ca.example/order/fabrikam' }));
}

/** Tenant B's documents as stored, ETags included: an untouched document keeps its ETag. */
async function documentsOf(tenantId: string): Promise<unknown[]> {
  const { resources } = await state.items
    .query({ query: 'SELECT * FROM c WHERE c.tenantId = @t', parameters: [{ name: '@t', value: tenantId }] }, { partitionKey: tenantId })
    .fetchAll();
  return resources.sort((x, y) => String(x.id).localeCompare(String(y.id)));
}

/** The requests the server received while `act` ran. */
async function recorded(act: () => Promise<unknown>): Promise<RecordedCosmosRequest[]> {
  cosmos.server.requests.length = 0;
  await act().catch(() => undefined);
  return cosmos.server.requests.splice(0);
}

const callsAsTenantA: Array<{ method: string; call: () => Promise<unknown>; refusedBeforeSending?: true }> = [
  { method: 'putObservations', call: () => store.putObservations(A, [anObservation({ tenantId: A, endpointId: B_KEYS.endpointId, address: B_KEYS.address, certificate: aCertificate({ fingerprintSha256: B_KEYS.fingerprint }) })]) },
  { method: 'putObservations (a record of B)', call: () => store.putObservations(A, [anObservation({ tenantId: B, endpointId: B_KEYS.endpointId, address: B_KEYS.address })]), refusedBeforeSending: true },
  { method: 'listObservations', call: () => store.listObservations(A) },
  { method: 'findObservationsByFingerprint', call: () => store.findObservationsByFingerprint(A, B_KEYS.fingerprint) },
  { method: 'getManagedState', call: () => store.getManagedState(A, B_KEYS.certificateId) },
  { method: 'putManagedState (create)', call: () => store.putManagedState(aManagedState({ tenantId: A, certificateId: B_KEYS.certificateId }), 0) },
  { method: 'putManagedState (update at B\'s version)', call: () => store.putManagedState(aManagedState({ tenantId: A, certificateId: B_KEYS.certificateId, deployedFingerprint: 'contoso-fp' }), 1) },
  { method: 'getNotificationState', call: () => store.getNotificationState(A, B_KEYS.subjectKey) },
  { method: 'putNotificationState', call: () => store.putNotificationState({ tenantId: A, subjectKey: B_KEYS.subjectKey, stateHash: 'contoso-hash', notifiedAt: '2025-03-02T00:00:00.000Z' }) },
  { method: 'getRenewalWindow', call: () => store.getRenewalWindow(A, B_KEYS.certId) },
  { method: 'putRenewalWindow', call: () => store.putRenewalWindow({ tenantId: A, certId: B_KEYS.certId, start: '2025-03-20T00:00:00.000Z', end: '2025-03-21T00:00:00.000Z', seenAt: '2025-03-02T00:00:00.000Z' }) },
  { method: 'claim', call: () => store.claim(A, B_KEYS.claim) },
  { method: 'releaseClaim', call: () => store.releaseClaim(A, B_KEYS.claim) },
  { method: 'journal.get', call: () => journal.get({ tenantId: A, certificateId: B_KEYS.certificateId }) },
  { method: 'journal.save', call: () => journal.save(anOrder({ tenantId: A, certificateId: B_KEYS.certificateId, orderUrl: 'https://ca.example/order/contoso' })) },
  { method: 'journal.clear', call: () => journal.clear({ tenantId: A, certificateId: B_KEYS.certificateId }) },
];

describe('Cosmos DB adapters: tenant isolation', () => {
  it('When tenant A reads with tenant B\'s keys before writing anything, then nothing of B is returned', async () => {
    expect(await store.listObservations(A)).toEqual([]);
    expect(await store.findObservationsByFingerprint(A, B_KEYS.fingerprint)).toEqual([]);
    expect(await store.getManagedState(A, B_KEYS.certificateId)).toBeNull();
    expect(await store.getNotificationState(A, B_KEYS.subjectKey)).toBeNull();
    expect(await store.getRenewalWindow(A, B_KEYS.certId)).toBeNull();
    expect(await journal.get({ tenantId: A, certificateId: B_KEYS.certificateId })).toBeNull();
    expect(await store.claim(A, B_KEYS.claim)).toBe(true);
  });

  it('When every method is called for tenant A with tenant B\'s keys, then B\'s documents are unchanged and B still reads its own', async () => {
    const before = await documentsOf(B);
    expect(before.length).toBeGreaterThanOrEqual(7);

    for (const { call } of callsAsTenantA) await call().catch(() => undefined);

    expect(await documentsOf(B)).toEqual(before);
    expect((await store.getManagedState(B, B_KEYS.certificateId))?.deployedFingerprint).toBe('fabrikam-fp');
    expect((await store.getNotificationState(B, B_KEYS.subjectKey))?.stateHash).toBe('fabrikam-hash');
    expect((await store.getRenewalWindow(B, B_KEYS.certId))?.start).toBe('2025-03-10T00:00:00.000Z');
    expect((await journal.get({ tenantId: B, certificateId: B_KEYS.certificateId }))?.orderUrl).toBe('https://ca.example/order/fabrikam');
    expect(await store.claim(B, B_KEYS.claim)).toBe(false);
    expect((await store.listObservations(B)).map((o) => o.sweepId)).toEqual(['fabrikam-sweep']);
  });

  it('When tenant A has written under B\'s keys, then A\'s reads return only A\'s records', async () => {
    for (const { call } of callsAsTenantA.slice(0, 2)) await call().catch(() => undefined);
    await store.putManagedState(aManagedState({ tenantId: A, certificateId: B_KEYS.certificateId, deployedFingerprint: 'contoso-fp' }), 0);

    const observations = await store.findObservationsByFingerprint(A, B_KEYS.fingerprint);
    expect(observations.map((o) => [o.tenantId, o.sweepId])).toEqual([[A, 'sweep-1']]);
    expect((await store.listObservations(A)).every((o) => o.tenantId === A)).toBe(true);
    expect((await store.getManagedState(A, B_KEYS.certificateId))?.deployedFingerprint).toBe('contoso-fp');
  });

  it.each(callsAsTenantA.filter((c) => !c.refusedBeforeSending))(
    'When $method is called for tenant A, then every document request it sends carries A\'s partition key',
    async ({ call }) => {
      await recorded(call); // the first call warms the SDK's metadata caches; the second is the one inspected
      const requests = await recorded(call);

      const documentRequests = requests.filter((r) => r.path.includes('/docs') && !r.queryPlan);
      expect(documentRequests.length).toBeGreaterThan(0);
      expect(documentRequests.filter((r) => r.partitionKey !== JSON.stringify([A]))).toEqual([]);
      expect(requests.filter((r) => !r.path.includes('/docs')).filter((r) => r.method !== 'GET')).toEqual([]);
    },
  );

  it('When a record of tenant B is put for tenant A, then it is refused before any request is sent', async () => {
    const refused = callsAsTenantA.find((c) => c.refusedBeforeSending)!;
    let error: unknown;
    const requests = await recorded(() => refused.call().catch((err: unknown) => (error = err)));

    expect(String(error)).toMatch(/belongs to tenant fabrikam, not contoso/);
    expect(requests).toEqual([]);
  });

  it('When listTenants is called, then it is the cross-partition read (no partition key) and lists both tenants', async () => {
    await store.putManagedState(aManagedState({ tenantId: A }), 0);
    let tenants: string[] = [];
    const requests = await recorded(async () => {
      tenants = await store.listTenants();
    });

    expect(tenants).toEqual([A, B]);
    const documentRequests = requests.filter((r) => r.path.includes('/docs') && !r.queryPlan);
    expect(documentRequests.length).toBeGreaterThan(0);
    expect(documentRequests.every((r) => r.partitionKey === null)).toBe(true);
  });
});
