/**
 * The audit chain key's election on the Azure adapters (Cosmos DB claim, Key Vault secret), with
 * the real SDKs against the stand-ins: one key for every instance, whatever the order, a failed
 * first write, or a winner that died between its claim and its write.
 */
import { CosmosCertificateStore } from '../../shared/adapters/azure/cosmos-certificate-store';
import type { KeyVaultClients } from '../../shared/adapters/azure/key-vault-clients';
import { KeyVaultKeyStore } from '../../shared/adapters/azure/key-vault-key-store';
import { auditChainKey, PLATFORM_TENANT } from '../../shared/composition-azure';
import { startCosmosServer, type CosmosTestServer } from '../support/cosmos-server';
import { startKeyVaultStubWithClients, type KeyVaultStub } from '../support/key-vault-stub';

jest.setTimeout(30_000);

let cosmos: CosmosTestServer;
let vault: KeyVaultStub;
let kv: KeyVaultClients;
beforeAll(async () => {
  cosmos = await startCosmosServer();
  ({ stub: vault, clients: kv } = await startKeyVaultStubWithClients({ maxRetries: 0 }));
});
afterAll(async () => {
  await vault?.close();
  await cosmos?.close();
});

async function aStore(): Promise<CosmosCertificateStore> {
  const { state } = await cosmos.freshDatabase();
  return new CosmosCertificateStore(state);
}

/** A key store whose first `put` fails as Key Vault does while a role assignment propagates. */
function flakyKeyStore(): KeyVaultKeyStore & { failures: number } {
  const store = new KeyVaultKeyStore(kv.secrets) as KeyVaultKeyStore & { failures: number };
  store.failures = 1;
  const put = store.put.bind(store);
  store.put = async (...args) => {
    if (store.failures-- > 0) throw Object.assign(new Error('Forbidden: the caller is not authorized'), { statusCode: 403 });
    return put(...args);
  };
  return store;
}

it('When several instances start at once, then they all get the same key, and it is stored once', async () => {
  const store = await aStore();
  const keys = new KeyVaultKeyStore(kv.secrets);
  await keys.delete(PLATFORM_TENANT, 'audit-chain-key');
  const got = await Promise.all([0, 1, 2, 3].map(() => auditChainKey(keys, store, 5_000)));
  expect(new Set(got.map((k) => k.toString('base64'))).size).toBe(1);
  expect(got[0]).toHaveLength(32);
});

it('When the winner fails to write the key, then its claim is given back and the next start creates it', async () => {
  const store = await aStore();
  const keys = flakyKeyStore();
  await keys.delete(PLATFORM_TENANT, 'audit-chain-key');
  await expect(auditChainKey(keys, store, 500)).rejects.toThrow(/Forbidden/);
  const started = Date.now();
  const key = await auditChainKey(keys, store, 500);
  expect(key).toHaveLength(32);
  expect(Date.now() - started).toBeLessThan(400); // it did not wait for a winner that will never write
});

it('When the winner died between its claim and its write, then a waiter takes the election over after its wait', async () => {
  const store = await aStore();
  const keys = new KeyVaultKeyStore(kv.secrets);
  await keys.delete(PLATFORM_TENANT, 'audit-chain-key');
  expect(await store.claim(PLATFORM_TENANT, 'create:audit-chain-key')).toBe(true); // the dead winner's claim
  const key = await auditChainKey(keys, store, 300);
  expect(key).toHaveLength(32);
  expect(await auditChainKey(keys, store, 300)).toEqual(key);
});
