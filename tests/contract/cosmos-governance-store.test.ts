/**
 * The GovernanceStore contract against CosmosGovernanceStore, through the real @azure/cosmos SDK
 * and @vercel/cosmosdb-server (tests/support/cosmos-server.ts): one database per test, and each
 * `makeStore` opens its own client on it, so a second writer or a reopen is a new client with cold
 * caches. Then, as cosmos-tenant-isolation.test.ts does for the certificate store, what went over
 * the wire: every document request of every method carries the partition key of the tenant the
 * method was called for (the SDK's query-plan requests excepted: they carry none by design), and
 * tenant A's calls under tenant B's keys leave B's documents, ETags included, untouched.
 */
import type { Container } from '@azure/cosmos';
import { CosmosGovernanceStore } from '../../shared/adapters/azure/cosmos-governance-store';
import { startCosmosServer, type CosmosTestServer, type RecordedCosmosRequest } from '../support/cosmos-server';
import { callsAsTenant, governanceStoreContract, seedTenant } from './governance-store.contract';

let server: CosmosTestServer;
let databaseId: string;
beforeAll(async () => {
  server = await startCosmosServer();
});
afterAll(async () => {
  await server.close();
});
beforeEach(async () => {
  ({ databaseId } = await server.freshDatabase());
});

governanceStoreContract('CosmosGovernanceStore', async () => {
  const client = server.newClient();
  return {
    store: new CosmosGovernanceStore(server.containers(client, databaseId).state),
    close: async () => client.dispose(),
  };
});

describe('CosmosGovernanceStore on the wire', () => {
  const A = 'contoso';
  const B = 'fabrikam';
  let state: Container;
  let store: CosmosGovernanceStore;

  beforeEach(async () => {
    state = server.containers(server.newClient(), databaseId).state;
    store = new CosmosGovernanceStore(state);
    await seedTenant(store, B);
  });

  /** A tenant's documents as stored, ETags included: an untouched document keeps its ETag. */
  async function documentsOf(tenantId: string): Promise<unknown[]> {
    const { resources } = await state.items
      .query({ query: 'SELECT * FROM c WHERE c.tenantId = @t', parameters: [{ name: '@t', value: tenantId }] }, { partitionKey: tenantId })
      .fetchAll();
    return resources.sort((x, y) => String(x.id).localeCompare(String(y.id)));
  }

  async function recorded(act: () => Promise<unknown>): Promise<RecordedCosmosRequest[]> {
    server.requests.length = 0;
    await act().catch(() => undefined);
    return server.requests.splice(0);
  }

  it('When every method is called for tenant A with tenant B\'s keys, then B\'s documents keep their content and ETags', async () => {
    const before = await documentsOf(B);
    expect(before).toHaveLength(4);
    expect(before.every((d) => (d as { type?: string }).type !== undefined)).toBe(true);

    for (const { call } of callsAsTenant(() => store, A)) await call().catch(() => undefined);

    expect(await documentsOf(B)).toEqual(before);
    expect((await documentsOf(A)).length).toBeGreaterThan(0);
  });

  it.each(callsAsTenant(() => store, A))(
    'When $method is called for tenant A, then every document request it sends carries A\'s partition key',
    async ({ call }) => {
      await recorded(call); // warms the SDK's metadata caches; the second call is the one inspected
      const requests = await recorded(call);

      const documentRequests = requests.filter((r) => r.path.includes('/docs') && !r.queryPlan);
      expect(documentRequests.length).toBeGreaterThan(0);
      expect(documentRequests.filter((r) => r.partitionKey !== JSON.stringify([A]))).toEqual([]);
      expect(requests.filter((r) => !r.path.includes('/docs')).filter((r) => r.method !== 'GET')).toEqual([]);
    },
  );
});
