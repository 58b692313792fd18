/** The AcmeOrderJournal contract against CosmosAcmeOrderJournal (real @azure/cosmos SDK, @vercel/cosmosdb-server). */
import { CosmosAcmeOrderJournal } from '../../shared/adapters/azure/cosmos-order-journal';
import { startCosmosServer, type CosmosTestServer } from '../support/cosmos-server';
import { acmeOrderJournalContract } from './order-journal.contract';

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

acmeOrderJournalContract('CosmosAcmeOrderJournal', async () => {
  const client = server.newClient();
  return { journal: new CosmosAcmeOrderJournal(server.containers(client, databaseId).state), close: async () => client.dispose() };
});
