import { AzureLogger, setLogLevel } from '@azure/logger';
import { SecretClient } from '@azure/keyvault-secrets';
import { PermanentError, RetryableError } from '../../shared/domain/errors';
import { KEY_VAULT_API_VERSION } from '../../shared/adapters/azure/key-vault-clients';
import { KeyVaultKeyStore, MAX_SECRET_NAME_LENGTH, secretNameFor } from '../../shared/adapters/azure/key-vault-key-store';
import type { FakeCredential } from '../support/fake-credential';
import { STUB_TENANT, startKeyVaultStubWithClients, type KeyVaultStub } from '../support/key-vault-stub';
import { aPrivateKeyPem, keyStoreContract, pemBody } from './key-store.contract';

/** Captures everything the Azure SDK logs (verbose: requests, responses, retries). */
function captureAzureLogs(): { text(): string; stop(): void } {
  const lines: string[] = [];
  const original = AzureLogger.log;
  AzureLogger.log = (...args: unknown[]) => void lines.push(args.map(String).join(' '));
  setLogLevel('verbose');
  return {
    text: () => lines.join('\n'),
    stop: () => {
      setLogLevel('warning');
      AzureLogger.log = original;
    },
  };
}

async function openStore(options: { maxRetries?: number } = {}) {
  const { stub, credential, clients } = await startKeyVaultStubWithClients(options);
  return { stub, credential, secrets: clients.secrets, store: new KeyVaultKeyStore(clients.secrets) };
}

keyStoreContract('KeyVaultKeyStore (real SecretClient against the Key Vault stub)', async () => {
  const logs = captureAzureLogs();
  const { stub, store } = await openStore();
  return {
    store,
    logs: logs.text,
    close: async () => {
      logs.stop();
      await stub.close();
    },
  };
});

describe('KeyVaultKeyStore, Key Vault specifics', () => {
  let stub: KeyVaultStub;
  let store: KeyVaultKeyStore;
  let credential: FakeCredential;
  let secrets: SecretClient;
  let pem: string;

  beforeAll(async () => {
    pem = await aPrivateKeyPem();
  });
  beforeEach(async () => {
    ({ stub, store, credential, secrets } = await openStore({ maxRetries: 0 }));
  });
  afterEach(async () => {
    await stub.close();
  });

  it('When a key is deleted and put again, then no 409 occurs: delete disabled the version instead of soft-deleting the secret', async () => {
    await store.put('contoso', 'acme/orders/www', pem);
    await store.delete('contoso', 'acme/orders/www');
    await store.put('contoso', 'acme/orders/www', pem);

    const name = secretNameFor('contoso', 'acme/orders/www');
    expect(stub.secretVersions(name).map((v) => v.enabled)).toEqual([false, true]);
    expect(stub.requests.filter((r) => r.method === 'DELETE')).toHaveLength(0);
    expect(stub.requests.every((r) => r.status !== 409)).toBe(true);
  });

  it('When a secret is soft-deleted the plain way, then putting the same name fails with 409 (why delete disables)', async () => {
    const name = secretNameFor('contoso', 'acme/orders/www');
    await store.put('contoso', 'acme/orders/www', pem);
    const poller = await secrets.beginDeleteSecret(name, { intervalInMs: 1 });
    await poller.pollUntilDone();

    const again = store.put('contoso', 'acme/orders/www', pem);
    await expect(again).rejects.toBeInstanceOf(PermanentError);
    await expect(again).rejects.toThrow(/409 Conflict.*deleted object that is still recoverable/);
  });

  it('When the store talks to the vault, then the first request meets the challenge and every later one carries the bearer token', async () => {
    await store.put('contoso', 'local-ca', pem);
    await store.get('contoso', 'local-ca');
    await store.delete('contoso', 'local-ca');

    const [first, ...rest] = stub.requests;
    expect(first).toMatchObject({ authorized: false, status: 401 });
    expect(rest.length).toBeGreaterThanOrEqual(4);
    expect(rest.every((r) => r.authorized)).toBe(true);
    expect(stub.requests.every((r) => r.apiVersion === KEY_VAULT_API_VERSION)).toBe(true);
    expect(credential.calls).toBeGreaterThanOrEqual(1);
    expect(credential.requests[0]).toEqual({ scopes: ['https://vault.azure.net/.default'], tenantId: STUB_TENANT });
  });

  it('When the SDK logs verbosely, then its log shows the requests but never the value', async () => {
    const logs = captureAzureLogs();
    try {
      await store.put('contoso', 'local-ca', pem);
      expect(await store.get('contoso', 'local-ca')).toBe(pem);
    } finally {
      logs.stop();
    }
    expect(logs.text()).toContain(secretNameFor('contoso', 'local-ca'));
    expect(logs.text()).not.toContain(pemBody(pem).slice(0, 40));
    expect(logs.text()).not.toContain(credential.token);
  });

  it('When a key is stored, then the secret is PEM-typed and tagged with the tenant and the original name', async () => {
    await store.put('contoso', 'acme/orders/www', pem);
    const [version] = stub.secretVersions(secretNameFor('contoso', 'acme/orders/www'));
    expect(version).toMatchObject({ contentType: 'application/x-pem-file', tags: { tenant: 'contoso', name: 'acme/orders/www' } });
  });

  const long = 'x'.repeat(200);
  it.each([
    { case: "a name with '/'", pairs: [['contoso', 'acme/orders/www'], ['contoso', 'acme-orders-www'], ['contoso', 'acme/orders-www']] },
    { case: 'long names sharing a long prefix', pairs: [['contoso', `${long}a`], ['contoso', `${long}b`], [long, 'k']] },
    { case: 'the tenant/name boundary moved', pairs: [['a', 'b--c'], ['a--b', 'c'], ['a-', '-b--c']] },
    { case: 'only characters Key Vault refuses', pairs: [['ü', '/'], ['é', '/'], ['', '']] },
  ])('When the names are $case, then each maps to a distinct valid Key Vault name the vault accepts', async ({ pairs }) => {
    const names = pairs.map(([t, n]) => secretNameFor(t, n));
    for (const name of names) {
      expect(name).toMatch(/^[0-9a-zA-Z-]+$/);
      expect(name.length).toBeLessThanOrEqual(MAX_SECRET_NAME_LENGTH);
    }
    expect(new Set(names).size).toBe(names.length);

    for (const [i, [tenant, name]] of pairs.entries()) await store.put(tenant, name, `value-${i}`);
    for (const [i, [tenant, name]] of pairs.entries()) expect(await store.get(tenant, name)).toBe(`value-${i}`);
  });

  it('When reading is forbidden for another reason than a disabled version (no access), then get throws instead of answering null', async () => {
    await store.put('contoso', 'local-ca', pem);
    stub.failNext(403);
    await expect(store.get('contoso', 'local-ca')).rejects.toThrow(/403 Forbidden.*grant certops' identity/);
  });

  it('When a name mixes readable parts, then its secret name stays readable', () => {
    expect(secretNameFor('contoso', 'acme/orders/www')).toMatch(/^ks-contoso--acme-orders-www-[0-9a-f]{16}$/);
  });

  it('When a secret under the mapped name was not written by certops, then get refuses it instead of returning it', async () => {
    await secrets.setSecret(secretNameFor('contoso', 'local-ca'), 'someone else', { tags: { tenant: 'fabrikam' } });
    await expect(store.get('contoso', 'local-ca')).rejects.toThrow(/not tagged as key "local-ca" of tenant contoso/);
  });

  it.each([
    { status: 429, error: RetryableError },
    { status: 503, error: RetryableError },
    { status: 400, error: PermanentError },
    { status: 403, error: PermanentError },
  ])('When the vault answers $status, then put throws $error.name and the message holds no value', async ({ status, error }) => {
    await store.put('contoso', 'warm-up', 'x'); // past the challenge, so the failure hits the real request
    stub.failNext(status);
    const failure = (await store.put('contoso', 'local-ca', pem).catch((e: unknown) => e)) as Error;

    expect(failure).toBeInstanceOf(error);
    expect(failure.message).toContain(String(status));
    const chain = `${failure.message} ${String((failure.cause as Error | undefined)?.message)} ${JSON.stringify(failure)}`;
    expect(chain).not.toContain(pemBody(pem).slice(0, 40));
  });
});
