/**
 * The CertificateStore contract against CosmosCertificateStore, through the real @azure/cosmos SDK
 * and @vercel/cosmosdb-server (tests/support/cosmos-server.ts). One database per test; each
 * `makeStore` opens its own client on it, so a "reopen" is a new client with cold caches.
 */
import { CosmosCertificateStore } from '../../shared/adapters/azure/cosmos-certificate-store';
import { useCosmosServer } from '../support/cosmos-server';
import { certificateStoreContract } from './certificate-store.contract';

const cosmos = useCosmosServer();

certificateStoreContract('CosmosCertificateStore', async () => {
  const { state, close } = cosmos.connect();
  return { store: new CosmosCertificateStore(state), close };
});
