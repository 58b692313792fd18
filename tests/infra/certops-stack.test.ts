/**
 * The Pulumi program, run against recording mocks (no Pulumi CLI, no Azure): what it would ask
 * Azure to create must match the topology and layout the code reads, hold no credential, and grant
 * the Function App exactly its least-privilege roles.
 */
import { certopsStack } from '../../infra/certops-stack';
import { validatePrefix } from '../../infra/naming';
import {
  COSMOS_CONTAINERS,
  DEAD_LETTER_SUBSCRIPTION,
  DEAD_LETTER_TOPIC,
  SERVICE_BUS_SUBSCRIPTION_SETTINGS,
  SERVICE_BUS_TOPIC_SETTINGS,
} from '../../shared/adapters/azure/layout';
import { readSettings, SETTING_KEYS } from '../../shared/config/settings';
import { AUDIT_HEADS_CONTAINER } from '../../shared/adapters/azure/blob-audit-head-log';
import { AUDIT_HEAD_KEY_NAME } from '../../shared/adapters/azure/key-vault-head-signer';
import { DEFAULT_AUDIT_HEADS_RETENTION_DAYS } from '../../infra/audit-heads';
import { routes } from '../../shared/pipeline/topology';
import { FAKE, Registered, recordingMocks, settled } from './pulumi-mocks';

/** Every app setting the Function App may have; anything else is a review away from a leaked secret. */
const ALLOWED_SETTINGS = [
  'AzureWebJobsStorage__accountName',
  'APPLICATIONINSIGHTS_CONNECTION_STRING',
  'APPLICATIONINSIGHTS_AUTHENTICATION_STRING',
  'CERTOPS_RUNTIME',
  'CERTOPS_SERVICE_BUS__fullyQualifiedNamespace',
  'CERTOPS_COSMOS_ENDPOINT',
  'CERTOPS_COSMOS_DATABASE',
  'CERTOPS_KEY_VAULT_URL',
  'CERTOPS_CONFIG',
  'CERTOPS_LOG_LEVEL',
  'CERTOPS_SWEEP_SCHEDULE',
  'CERTOPS_CLIENT_APP_ID',
];
/** The Functions host's own settings (identity-based host storage, telemetry); the rest are the app's. */
const HOST_SETTINGS = ['AzureWebJobsStorage__accountName', 'APPLICATIONINSIGHTS_CONNECTION_STRING', 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'];

/** Shapes of credentials in Azure connection strings and settings. */
const SECRET_SHAPES = [/AccountKey=/i, /SharedAccessKey/i, /SharedAccessSignature/i, /DefaultEndpointsProtocol=/i, /password/i, /secret/i, /[?&;]sig=/i];
const looksLikeSecret = (value: string) => SECRET_SHAPES.some((shape) => shape.test(value));

/** role name, built-in role id, the resource type whose id is the scope. */
const FUNCTION_APP_ROLES: Array<[string, string, string]> = [
  ['Storage Blob Data Owner', 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b', 'azure-native:storage:StorageAccount'],
  ['Azure Service Bus Data Sender', '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39', 'azure-native:servicebus:Namespace'],
  ['Azure Service Bus Data Receiver', '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0', 'azure-native:servicebus:Namespace'],
  ['Key Vault Secrets Officer', 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7', 'azure-native:keyvault:Vault'],
  ['Key Vault Certificates Officer', 'a4417e6f-fecd-4de8-b567-7b0420556985', 'azure-native:keyvault:Vault'],
  ['Key Vault Crypto User', '12338af0-0e69-4776-bea7-57ae8d297424', 'audit-head-signing'],
  ['Monitoring Metrics Publisher', '3913510d-42f4-4e42-8a64-420c390055eb', 'azure-native:applicationinsights:Component'],
];
const COSMOS_DATA_CONTRIBUTOR = '00000000-0000-0000-0000-000000000002';
const CRYPTO_SERVICE_ENCRYPTION_USER = 'e147488a-f6f5-4113-8e2d-b22465e65bf6';

let registered: Registered[];
const all = (type: string) => registered.filter((r) => r.type === type);
const one = (type: string) => {
  const found = all(type);
  if (found.length !== 1) throw new Error(`expected one ${type}, found ${found.length}`);
  return found[0];
};
/** The resource registered under the logical `name` (where a type has several, e.g. the vault's two keys). */
const named = (name: string) => {
  const found = registered.filter((r) => r.logicalName === name);
  if (found.length !== 1) throw new Error(`expected one resource named ${name}, found ${found.length}`);
  return found[0];
};
/** A resource by type (a `azure-native:…` token) or by logical name. */
const scopeOf = (typeOrName: string) => (typeOrName.startsWith('azure-native:') ? one(typeOrName) : named(typeOrName));
const lastSegment = (id: string) => id.split('/').pop();
/** `<role id> @ <scope>` for every assignment, ARM or Cosmos, held by a principal. */
const grantsOf = (principalId: string) =>
  [...all('azure-native:authorization:RoleAssignment'), ...all('azure-native:cosmosdb:SqlResourceSqlRoleAssignment')]
    .filter((r) => r.inputs.principalId === principalId)
    .map((r) => `${lastSegment(r.inputs.roleDefinitionId)} @ ${r.inputs.scope}`)
    .sort();
const appSettings = () => one('azure-native:web:WebApp').inputs.siteConfig.appSettings as Array<{ name: string; value: string }>;
const settingsEnv = () => Object.fromEntries(appSettings().map((s) => [s.name, s.value]));

beforeAll(async () => {
  registered = await recordingMocks();
  const stack = certopsStack({
    location: 'westeurope',
    namePrefix: 'contoso',
    tags: { owner: 'msp-ops' },
    configFile: 'certops.yaml',
    logLevel: 'info',
    clientAppId: '44444444-4444-4444-4444-444444444444',
  });
  await settled(stack);
});

describe('Service Bus', () => {
  const topics = routes().map((r) => r.topic);
  const subscriptions = routes().flatMap((r) => r.subscriptions.map((stage) => [r.topic, stage] as const));

  it('When installed, then the topics are exactly one per event type of the topology, plus the dead-letter topic', () => {
    expect(all('azure-native:servicebus:Topic').map((t) => t.name).sort()).toEqual([...topics, DEAD_LETTER_TOPIC].sort());
  });

  it.each([...topics, DEAD_LETTER_TOPIC])('When topic %s is created, then it drops duplicate message ids within the layout window', (name) => {
    const topic = all('azure-native:servicebus:Topic').find((t) => t.name === name)!;
    expect(topic.inputs).toMatchObject(SERVICE_BUS_TOPIC_SETTINGS);
    expect(topic.inputs.requiresDuplicateDetection).toBe(true);
  });

  it('When installed, then the subscriptions are exactly one per consuming stage on each topic, plus the operators\' dead-letter subscription', () => {
    const actual = all('azure-native:servicebus:Subscription').map((s) => `${s.inputs.topicName}/${s.name}`).sort();
    expect(actual).toEqual([...subscriptions.map(([t, s]) => `${t}/${s}`), `${DEAD_LETTER_TOPIC}/${DEAD_LETTER_SUBSCRIPTION}`].sort());
  });

  it.each(subscriptions)('When %s is subscribed by stage %s, then it dead-letters after the layout\'s delivery count and on expiry', (topic, stage) => {
    const sub = all('azure-native:servicebus:Subscription').find((s) => s.inputs.topicName === topic && s.name === stage)!;
    expect(sub.inputs).toMatchObject(SERVICE_BUS_SUBSCRIPTION_SETTINGS);
    expect(sub.inputs.maxDeliveryCount).toBe(5);
    expect(sub.inputs.deadLetteringOnMessageExpiration).toBe(true);
  });

  it('When the namespace is created, then it is Standard (topics) and refuses SAS keys', () => {
    expect(one('azure-native:servicebus:Namespace').inputs).toMatchObject({ sku: { name: 'Standard' }, disableLocalAuth: true });
  });
});

describe('Cosmos DB and its key', () => {
  it.each(Object.values(COSMOS_CONTAINERS))('When container %s is created, then it is partitioned by /tenantId', (name) => {
    const container = all('azure-native:cosmosdb:SqlResourceSqlContainer').find((c) => c.name === name)!;
    expect(container.inputs.resource.partitionKey.paths).toEqual(['/tenantId']);
    expect(container.inputs.databaseName).toBe('certops');
  });

  it('When the account is created, then it is encrypted with the vault key (versionless URI, so rotation follows) and local auth is off', () => {
    const account = one('azure-native:cosmosdb:DatabaseAccount').inputs;
    const key = named('cosmos-cmk');
    const identity = one('azure-native:managedidentity:UserAssignedIdentity');
    expect(account.keyVaultKeyUri).toBe(`https://${key.inputs.vaultName}.vault.azure.net/keys/${key.name}`);
    expect(account.disableLocalAuth).toBe(true);
    expect(account.identity).toEqual({ type: 'UserAssigned', userAssignedIdentities: [identity.id] });
    expect(account.defaultIdentity).toBe(`UserAssignedIdentity=${identity.id}`);
  });

  it('When the key identity is granted, then it holds only Key Vault Crypto Service Encryption User, on the key', () => {
    expect(grantsOf(FAKE.cosmosKeyPrincipalId)).toEqual([`${CRYPTO_SERVICE_ENCRYPTION_USER} @ ${named('cosmos-cmk').id}`]);
  });

  it('When the vault is created, then it is in RBAC mode with soft delete and purge protection, and has no access policies', () => {
    const properties = one('azure-native:keyvault:Vault').inputs.properties;
    expect(properties).toMatchObject({ enableRbacAuthorization: true, enableSoftDelete: true, enablePurgeProtection: true, tenantId: FAKE.tenantId });
    expect(properties.accessPolicies ?? []).toEqual([]);
  });
});

describe('The Function App', () => {
  it('When configured, then every app setting is on the allow-list', () => {
    const names = appSettings().map((s) => s.name);
    expect(names.filter((n) => !ALLOWED_SETTINGS.includes(n))).toEqual([]);
    expect(new Set(names).size).toBe(names.length);
  });

  it('When configured, then every setting but the host\'s is one the settings reader knows', () => {
    const unknown = appSettings().map((s) => s.name).filter((n) => !HOST_SETTINGS.includes(n) && !(SETTING_KEYS as readonly string[]).includes(n));
    expect(unknown).toEqual([]);
  });

  it('When the app reads its settings, then it runs the Azure runtime on the installed endpoints, Service Bus by identity', () => {
    const settings = readSettings(settingsEnv());
    expect(settings.runtime).toBe('azure');
    expect(settings.azure).toEqual({
      cosmosEndpoint: `https://${one('azure-native:cosmosdb:DatabaseAccount').name}.documents.azure.com:443/`,
      cosmosDatabase: 'certops',
      serviceBus: { fullyQualifiedNamespace: `${one('azure-native:servicebus:Namespace').name}.servicebus.windows.net` },
      keyVaultUrl: `https://${one('azure-native:keyvault:Vault').name}.vault.azure.net/`,
      clientAppId: '44444444-4444-4444-4444-444444444444',
    });
    expect(settings.serviceBusConnectionSetting).toBe('CERTOPS_SERVICE_BUS');
  });

  it('When configured, then no app setting value looks like a credential', () => {
    expect(appSettings().filter((s) => looksLikeSecret(s.value))).toEqual([]);
  });

  it.each([
    ['a storage connection string', 'DefaultEndpointsProtocol=https;AccountName=x;AccountKey=abc=='],
    ['a Service Bus connection string', 'Endpoint=sb://x.servicebus.windows.net/;SharedAccessKeyName=root;SharedAccessKey=abc='],
    ['a SAS URL', 'https://x.blob.core.windows.net/c?sv=2024&sig=abc'],
    ['a password', 'Server=x;User=sa;Password=hunter2'],
  ])('When a setting held %s, then the credential check would catch it', (_case, value) => {
    expect(looksLikeSecret(value)).toBe(true);
  });

  it('When configured, then connections are identity-based and telemetry is Entra-authenticated', () => {
    expect(settingsEnv()).toMatchObject({
      AzureWebJobsStorage__accountName: one('azure-native:storage:StorageAccount').name,
      CERTOPS_SERVICE_BUS__fullyQualifiedNamespace: `${one('azure-native:servicebus:Namespace').name}.servicebus.windows.net`,
      CERTOPS_COSMOS_ENDPOINT: `https://${one('azure-native:cosmosdb:DatabaseAccount').name}.documents.azure.com:443/`,
      CERTOPS_KEY_VAULT_URL: `https://${one('azure-native:keyvault:Vault').name}.vault.azure.net/`,
      APPLICATIONINSIGHTS_CONNECTION_STRING: FAKE.appInsightsConnectionString,
      APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'Authorization=AAD',
    });
    expect(Object.keys(settingsEnv())).not.toContain('FUNCTIONS_WORKER_RUNTIME'); // Flex refuses it: runtime is in functionAppConfig
    expect(one('azure-native:storage:StorageAccount').inputs.allowSharedKeyAccess).toBe(false);
    expect(one('azure-native:applicationinsights:Component').inputs).toMatchObject({
      disableLocalAuth: true,
      workspaceResourceId: one('azure-native:operationalinsights:Workspace').id,
    });
  });

  it('When created, then it runs Node 20 on Linux in a Flex Consumption plan, with a system-assigned identity', () => {
    const app = one('azure-native:web:WebApp').inputs;
    expect(app.functionAppConfig.runtime).toEqual({ name: 'node', version: '20' });
    expect(app.kind).toBe('functionapp,linux');
    expect(app.identity).toEqual({ type: 'SystemAssigned' });
    expect(app.serverFarmId).toBe(one('azure-native:web:AppServicePlan').id);
    expect(one('azure-native:web:AppServicePlan').inputs).toMatchObject({ sku: { name: 'FC1', tier: 'FlexConsumption' }, reserved: true });
    expect(app.functionAppConfig.deployment.storage).toMatchObject({
      value: `https://${one('azure-native:storage:StorageAccount').name}.blob.core.windows.net/${named('st-app-package').name}`,
      authentication: { type: 'SystemAssignedIdentity' },
    });
  });

  it('When granted, then its identity holds exactly the least-privilege roles, each on its own resource, and nothing more', () => {
    const cosmosAccount = one('azure-native:cosmosdb:DatabaseAccount').id;
    const expected = [
      ...FUNCTION_APP_ROLES.map(([, role, scopeType]) => `${role} @ ${scopeOf(scopeType).id}`),
      `${COSMOS_DATA_CONTRIBUTOR} @ ${cosmosAccount}/dbs/certops`,
    ].sort();
    expect(grantsOf(FAKE.functionPrincipalId)).toEqual(expected);
    const arm = all('azure-native:authorization:RoleAssignment').filter((r) => r.inputs.principalId === FAKE.functionPrincipalId);
    for (const r of arm) {
      expect(r.inputs.roleDefinitionId).toMatch(new RegExp(`^/subscriptions/${FAKE.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/`));
      expect(r.inputs.principalType).toBe('ServicePrincipal');
    }
    const cosmos = one('azure-native:cosmosdb:SqlResourceSqlRoleAssignment').inputs;
    expect(cosmos.roleDefinitionId).toBe(`${cosmosAccount}/sqlRoleDefinitions/${COSMOS_DATA_CONTRIBUTOR}`);
  });

  it('When role assignments are named, then each name is a distinct GUID (ARM requires one)', () => {
    const names = all('azure-native:authorization:RoleAssignment').map((r) => r.name);
    for (const n of names) expect(n).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(new Set(names).size).toBe(names.length);
  });
});

describe('The signed audit heads', () => {
  it('When installed, then their container in the host storage account has a time-based retention policy that lets append blobs grow and nothing be changed or deleted', () => {
    const container = named('st-audit-heads');
    expect(container.inputs).toMatchObject({ containerName: AUDIT_HEADS_CONTAINER, accountName: one('azure-native:storage:StorageAccount').name, publicAccess: 'None' });
    const policy = one('azure-native:storage:BlobContainerImmutabilityPolicy').inputs;
    expect(policy).toMatchObject({
      containerName: AUDIT_HEADS_CONTAINER,
      accountName: one('azure-native:storage:StorageAccount').name,
      immutabilityPolicyName: 'default',
      immutabilityPeriodSinceCreationInDays: DEFAULT_AUDIT_HEADS_RETENTION_DAYS,
      allowProtectedAppendWrites: true,
    });
    expect(policy.allowProtectedAppendWritesAll).toBeUndefined(); // append blobs only, not block blobs
  });

  it('When installed, then their signing key is an EC P-256 key of the vault that can only sign and verify, and the app may use it and no other key', () => {
    const key = named('audit-head-signing');
    expect(key.inputs).toMatchObject({ keyName: AUDIT_HEAD_KEY_NAME, vaultName: one('azure-native:keyvault:Vault').name, properties: { kty: 'EC', curveName: 'P-256', keyOps: ['sign', 'verify'] } });
    expect(grantsOf(FAKE.functionPrincipalId).filter((g) => g.startsWith('12338af0-0e69-4776-bea7-57ae8d297424'))).toEqual([`12338af0-0e69-4776-bea7-57ae8d297424 @ ${key.id}`]);
  });
});

describe('Names', () => {
  it('When installed, then the globally unique names carry the prefix and a suffix derived from the subscription, within Azure\'s limits', () => {
    const storage = one('azure-native:storage:StorageAccount').name;
    expect(storage).toMatch(/^stcontoso[0-9a-f]{8}$/);
    expect(storage.length).toBeLessThanOrEqual(24);
    expect(one('azure-native:keyvault:Vault').name.length).toBeLessThanOrEqual(24);
    expect(one('azure-native:resources:ResourceGroup').inputs).toMatchObject({ resourceGroupName: 'rg-contoso', tags: { owner: 'msp-ops' } });
  });

  it.each([
    ['too short', 'c'],
    ['too long', 'contosoltd1'],
    ['upper case', 'Contoso'],
    ['a leading digit', '1contoso'],
    ['a trailing hyphen', 'contoso-'],
    ['a double hyphen', 'con--so'],
  ])('When the prefix has %s, then it is refused before anything is created', (_case, prefix) => {
    expect(() => validatePrefix(prefix)).toThrow(/namePrefix/);
  });
});
