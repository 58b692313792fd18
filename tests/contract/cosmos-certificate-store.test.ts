/**
 * The CertificateStore contract against CosmosCertificateStore, through the real @azure/cosmos SDK
 * and @vercel/cosmosdb-server (tests/support/cosmos-server.ts). One database per test; each
 * `makeStore` opens its own client on it, so a "reopen" is a new client with cold caches.
 */
import { CosmosCertificateStore } from '../../shared/adapters/azure/cosmos-certificate-store';
import { startCosmosServer, type CosmosTestServer } from '../support/cosmos-server';
import { certificateStoreContract } from './certificate-store.contract';

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

certificateStoreContract('CosmosCertificateStore', async () => {
  const client = server.newClient();
  return {
    store: new CosmosCertificateStore(server.containers(client, databaseId).state),
    close: async () => client.dispose(),
  };
});
