/** The app settings: what readSettings reads is exactly SETTING_KEYS (and so the sample file); Azure settings hold no secret. */
import { ConfigError } from '../../shared/domain/errors';
import { readSettings, SETTING_KEYS } from '../../shared/config/settings';

/** An environment that records every key read from it. */
function recording(values: Record<string, string>): { env: NodeJS.ProcessEnv; read: Set<string> } {
  const read = new Set<string>();
  const env = new Proxy(values, {
    get: (target, key) => {
      if (typeof key === 'string') read.add(key);
      return target[key as string];
    },
  }) as NodeJS.ProcessEnv;
  return { env, read };
}

const AZURE = {
  CERTOPS_RUNTIME: 'azure',
  CERTOPS_COSMOS_ENDPOINT: 'https://certops-x.documents.azure.com:443/',
  CERTOPS_KEY_VAULT_URL: 'https://certops-x.vault.azure.net',
  CERTOPS_SERVICE_BUS__fullyQualifiedNamespace: 'certops-x.servicebus.windows.net',
};

function errorsOf(env: Record<string, string>): string[] {
  try {
    readSettings(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.errors;
    throw err;
  }
  return [];
}

it('When settings are read for both runtimes, then the keys read are exactly SETTING_KEYS, no more, no fewer', () => {
  const embedded = recording({});
  readSettings(embedded.env);
  const azure = recording({ ...AZURE, CERTOPS_SERVICE_BUS__fullyQualifiedNamespace: '' , CERTOPS_SERVICE_BUS: 'Endpoint=sb://127.0.0.1:1;SharedAccessKeyName=x;SharedAccessKey=y;UseDevelopmentEmulator=true' });
  readSettings(azure.env);
  expect([...new Set([...embedded.read, ...azure.read])].sort()).toEqual([...SETTING_KEYS].sort());
});

it('When the runtime is azure with endpoints and a namespace, then the settings carry them and no secret', () => {
  expect(readSettings(AZURE).azure).toEqual({
    cosmosEndpoint: AZURE.CERTOPS_COSMOS_ENDPOINT,
    cosmosDatabase: 'certops',
    serviceBus: { fullyQualifiedNamespace: AZURE.CERTOPS_SERVICE_BUS__fullyQualifiedNamespace },
    keyVaultUrl: AZURE.CERTOPS_KEY_VAULT_URL,
    clientAppId: null,
  });
  expect(readSettings({}).azure).toBeNull();
});

it.each([
  ['no Cosmos endpoint', { CERTOPS_COSMOS_ENDPOINT: '' }, /^CERTOPS_COSMOS_ENDPOINT: is required/],
  ['a Key Vault URL over http', { CERTOPS_KEY_VAULT_URL: 'http://kv.example' }, /^CERTOPS_KEY_VAULT_URL: must be the https URL/],
  ['no Service Bus at all', { CERTOPS_SERVICE_BUS__fullyQualifiedNamespace: '' }, /^CERTOPS_SERVICE_BUS__fullyQualifiedNamespace: is required/],
  [
    'a production connection string (it holds a key)',
    { CERTOPS_SERVICE_BUS__fullyQualifiedNamespace: '', CERTOPS_SERVICE_BUS: 'Endpoint=sb://x.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=abc' },
    /^CERTOPS_SERVICE_BUS: a connection string \(it holds a key\) is only accepted for a local emulator/,
  ],
  ['an unknown runtime', { CERTOPS_RUNTIME: 'cloud' }, /^CERTOPS_RUNTIME: must be embedded or azure/],
])('When the azure settings have %s, then they are refused, saying which key and why', (_case, change, expected) => {
  const errors = errorsOf({ ...AZURE, ...change });
  expect(errors).toEqual(expect.arrayContaining([expect.stringMatching(expected)]));
});
