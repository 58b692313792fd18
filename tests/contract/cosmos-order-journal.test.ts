/** The AcmeOrderJournal contract against CosmosAcmeOrderJournal (real @azure/cosmos SDK, @vercel/cosmosdb-server). */
import { CosmosAcmeOrderJournal } from '../../shared/adapters/azure/cosmos-order-journal';
import { useCosmosServer } from '../support/cosmos-server';
import { acmeOrderJournalContract } from './order-journal.contract';

const cosmos = useCosmosServer();

acmeOrderJournalContract('CosmosAcmeOrderJournal', async () => {
  const { state, close } = cosmos.connect();
  return { journal: new CosmosAcmeOrderJournal(state), close };
});
