/**
 * The whole pipeline on the Azure adapters, run as the Functions host runs it: the stages are
 * registered by functions/register.ts on a host stand-in that drives every Service Bus trigger
 * from a real @azure/service-bus receiver (peek-lock, InvocationContext, complete or abandon),
 * against the AMQP broker; state in Cosmos DB (the test server, real SDK); keys and the deployed
 * certificate in Key Vault (the REST stub, real SDK); a TLS endpoint bound to the Key Vault
 * certificate as App Service is. The same scenario then runs on the embedded runtime, and the two
 * outcomes are compared.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ServiceBusClient } from '@azure/service-bus';
import { createKeyVaultClients, type KeyVaultClients } from '../../shared/adapters/azure/key-vault-clients';
import { KeyVaultCertificateVault } from '../../shared/adapters/azure/key-vault-certificate-vault';
import { KeyVaultDeployer } from '../../shared/adapters/azure/key-vault-deployer';
import { AUDIT_HEAD_KEY_NAME, createKeyVaultKeyClients } from '../../shared/adapters/azure/key-vault-head-signer';
import { DEAD_LETTER_SUBSCRIPTION, DEAD_LETTER_TOPIC } from '../../shared/adapters/azure/layout';
import { StaticResolver } from '../../shared/adapters/tls/system-resolver';
import { TlsProber } from '../../shared/adapters/tls/tls-prober';
import type { CertopsConfig } from '../../shared/config/model';
import type { AzureSettings } from '../../shared/config/settings';
import { azureRoutes, createAzureRuntime, type AzureRuntime } from '../../shared/composition-azure';
import { createEmbeddedRuntime } from '../../shared/composition-root';
import { TlsFleet } from '../../shared/demo/tls-fleet';
import { fixedClock } from '../../shared/domain/clock';
import { cloudEvent } from '../../shared/domain/events';
import { createLogger } from '../../shared/observability/logger';
import { endpointRef } from '../../shared/pipeline/endpoints';
import { EVENT_TYPES, topicOf } from '../../shared/pipeline/topology';
import type { CertificateStore } from '../../shared/ports/certificate-store';
import type { Notification } from '../../shared/ports/notifier';
import { registerStages } from '../../functions/register';
import { startCosmosServer, type CosmosTestServer } from '../support/cosmos-server';
import { startAzurite, type Azurite } from '../support/azurite';
import { FakeCredential } from '../support/fake-credential';
import { FunctionsHostEmulator } from '../support/functions-host';
import { startKeyVaultBoundServer, type KeyVaultBoundServer } from '../support/key-vault-bound-server';
import { startKeyVaultStub, type KeyVaultStub } from '../support/key-vault-stub';
import { ServiceBusBroker } from '../support/service-bus-broker';
import { aCA, aCertificate, TEST_NOW } from '../support/x509-builders';

jest.setTimeout(120_000);

const TENANT = 'contoso';
const CERTIFICATE_NAME = 'app-contoso';

/** One run's stand-ins: a Key Vault with the app's certificate, the app bound to it, two plain endpoints. */
interface Scenario {
  dir: string;
  vault: KeyVaultStub;
  kv: KeyVaultClients;
  app: KeyVaultBoundServer;
  fleet: TlsFleet;
  config: CertopsConfig;
  resolver: StaticResolver;
  oldFingerprint: string;
  outbox(): Notification[];
  served(): Promise<string>;
  close(): Promise<void>;
}

async function aScenario(): Promise<Scenario> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'certops-azure-e2e-'));
  const ca = await aCA();
  writeFileSync(path.join(dir, 'ca.pem'), ca.pem);
  const vault = await startKeyVaultStub();
  const kv = createKeyVaultClients(vault.url, new FakeCredential(), vault.clientOptions({ maxRetries: 0 }));
  // The app's certificate, about to expire, already in Key Vault (exportable, so it can be restored).
  const expiring = await aCertificate({ daysLeft: 2, dnsNames: ['app.contoso.test'], issuer: ca });
  await new KeyVaultCertificateVault(kv.certificates).importPem(CERTIFICATE_NAME, expiring.key.privateKeyPem + expiring.pem + ca.pem);
  const app = await startKeyVaultBoundServer(kv.secrets, CERTIFICATE_NAME);
  const healthy = await aCertificate({ daysLeft: 300, dnsNames: ['www.contoso.test'], issuer: ca });
  const expired = await aCertificate({ daysLeft: -3, dnsNames: ['old.contoso.test'], issuer: ca });
  for (const [name, leaf] of [['www', healthy], ['old', expired]] as const) {
    writeFileSync(path.join(dir, `${name}.pem`), leaf.pem + ca.pem);
    writeFileSync(path.join(dir, `${name}.key`), leaf.key.privateKeyPem);
  }
  const fleet = await TlsFleet.start(['www', 'old'].map((name) => ({ name, certFile: path.join(dir, `${name}.pem`), keyFile: path.join(dir, `${name}.key`) })));
  const outboxFile = path.join(dir, 'outbox.jsonl');
  const config: CertopsConfig = {
    dataDir: path.join(dir, 'data'),
    discovery: { concurrency: 4, connectTimeoutMs: 1000, handshakeTimeoutMs: 2000 },
    notifications: { console: false, outboxFile },
    sweepSchedule: '0 0 2 * * *',
    tenants: [
      {
        id: TENANT,
        assignee: { name: 'Dana' },
        escalation: { name: 'On-call' },
        trustedCaFiles: [path.join(dir, 'ca.pem')],
        endpoints: [
          { host: 'app.contoso.test', port: app.port, managed: 'app' },
          { host: 'www.contoso.test', port: fleet.endpoint('www').port },
          { host: 'old.contoso.test', port: fleet.endpoint('old').port },
        ],
        managedCertificates: [{ id: 'app', dnsNames: ['app.contoso.test'], issuer: 'local-ca', target: { type: 'key-vault', vaultUrl: vault.url, certificateName: CERTIFICATE_NAME } }],
      },
    ],
  };
  const fingerprint = (pem: string) => createHash('sha256').update(Buffer.from(pem.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64')).digest('hex');
  return {
    dir,
    vault,
    kv,
    app,
    fleet,
    config,
    resolver: new StaticResolver({ 'app.contoso.test': ['127.0.0.1'], 'www.contoso.test': ['127.0.0.1'], 'old.contoso.test': ['127.0.0.1'] }),
    oldFingerprint: fingerprint(expiring.pem),
    outbox: () => (existsSync(outboxFile) ? readFileSync(outboxFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Notification) : []),
    served: async () => {
      const r = await new TlsProber().probe({ address: '127.0.0.1', port: app.port, servername: 'app.contoso.test', connectTimeoutMs: 1000, handshakeTimeoutMs: 2000 });
      if (!r.ok) throw new Error(r.error.message);
      return createHash('sha256').update(r.chain[0]).digest('hex');
    },
    close: async () => {
      await app.close();
      await fleet.close();
      await vault.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** What a run decided, in a form both runtimes can be compared by (fingerprints differ: new keys). */
async function outcomeOf(store: CertificateStore, scenario: Scenario) {
  const observations = await store.listObservations(TENANT);
  const endpoints = Object.fromEntries(
    observations
      .map((o) => [o.host, { status: o.status, findings: o.findings.map((f) => f.code).sort(), served: o.certificate?.fingerprintSha256 === scenario.oldFingerprint ? 'old' : 'other' }] as const)
      .sort(([a], [b]) => a.localeCompare(b)),
  );
  const state = await store.getManagedState(TENANT, 'app');
  return {
    endpoints,
    rotation: { state: state?.rotation?.state, history: state?.rotation?.history.map((h) => h.state), lastOutcome: state?.lastRotation?.outcome },
    notifications: scenario.outbox().map((n) => `${n.kind}:${n.to.name}`).sort(),
  };
}

let broker: ServiceBusBroker;
let cosmos: CosmosTestServer;
let serviceBus: ServiceBusClient;
let azurite: Azurite;
let azure: { scenario: Scenario; runtime: AzureRuntime; host: FunctionsHostEmulator; outcome: Awaited<ReturnType<typeof outcomeOf>> };
let embedded: { scenario: Scenario; outcome: Awaited<ReturnType<typeof outcomeOf>> };

beforeAll(async () => {
  broker = await ServiceBusBroker.start({ topics: azureRoutes(), lockDurationMs: 30_000, maxDeliveryCount: 5 });
  cosmos = await startCosmosServer();
  serviceBus = new ServiceBusClient(broker.connectionString);
  azurite = await startAzurite();

  // The Azure run: settings as the Function App gets them; clients pointed at the stand-ins.
  const scenario = await aScenario();
  const client = cosmos.newClient();
  const { databaseId } = await cosmos.freshDatabase(client);
  const settings: AzureSettings = {
    cosmosEndpoint: cosmos.endpoint,
    cosmosDatabase: databaseId,
    serviceBus: { connectionString: broker.connectionString },
    keyVaultUrl: scenario.vault.url,
    clientAppId: null,
  };
  // The audit heads: signed with the vault's key, appended to the storage account's container.
  const headKeys = createKeyVaultKeyClients(scenario.vault.url, new FakeCredential(), scenario.vault.clientOptions());
  await headKeys.keys.createEcKey(AUDIT_HEAD_KEY_NAME, { curve: 'P-256', keyOps: ['sign', 'verify'] });
  const auditHeads = azurite.container('audit-heads');
  await auditHeads.create();
  const runtime = await createAzureRuntime(scenario.config, settings, {
    credentials: { platform: () => new FakeCredential(), forClientTenant: () => new FakeCredential() },
    clients: { cosmos: client, serviceBus, keyVault: () => scenario.kv, keyVaultKeys: () => headKeys, auditHeads },
    clock: fixedClock(TEST_NOW),
    logger: createLogger({ level: 'silent' }),
    resolver: scenario.resolver,
    consoleStream: null,
  });
  const host = new FunctionsHostEmulator();
  registerStages(host, { connection: 'CERTOPS_SERVICE_BUS', env: {}, runtime: async () => runtime });
  host.start(serviceBus);
  const pending = () =>
    azureRoutes()
      .filter((r) => r.topic !== DEAD_LETTER_TOPIC)
      .flatMap((r) => r.subscriptions.map((s) => broker.counts(r.topic, s)))
      .reduce((n, c) => n + c.active + c.locked + c.scheduled, 0);
  await host.runTimer('ingest-timer');
  await host.idle(pending);
  azure = { scenario, runtime, host, outcome: await outcomeOf(runtime.deps.store, scenario) };

  // The embedded run of the same scenario (its own stand-ins), deploying to its own Key Vault stub.
  const twin = await aScenario();
  const local = createEmbeddedRuntime(twin.config, {
    clock: fixedClock(TEST_NOW),
    logger: createLogger({ level: 'silent' }),
    resolver: twin.resolver,
    consoleStream: null,
    deployers: [new KeyVaultDeployer({ clientsFor: () => twin.kv })],
  });
  local.pipeline.start();
  await local.pipeline.sweep({ reason: 'schedule' });
  embedded = { scenario: twin, outcome: await outcomeOf(local.deps.store, twin) };
  await local.close();
});

afterAll(async () => {
  await azure?.host.stop();
  await azure?.runtime.close();
  await azure?.scenario.close();
  await embedded?.scenario.close();
  await serviceBus?.close();
  await broker?.close();
  await cosmos?.close();
  await azurite?.close();
});

it('When the Functions host runs the sweep on the Azure adapters, then the expiring Key Vault certificate is rotated and the bound endpoint serves the new one', async () => {
  const state = await azure.runtime.deps.store.getManagedState(TENANT, 'app');
  expect(state?.rotation?.state).toBe('committed');
  const served = await azure.scenario.served();
  expect(served).toBe(state?.deployedFingerprint);
  expect(served).not.toBe(azure.scenario.oldFingerprint);
  const versions = azure.scenario.vault.certificateVersions(CERTIFICATE_NAME);
  expect(versions).toHaveLength(2);
  expect(versions.every((v) => v.enabled)).toBe(true);
});

it('When the Azure run is compared with the embedded run of the same scenario, then every endpoint, the rotation and the notifications come out the same', () => {
  expect(azure.outcome.rotation).toEqual({ state: 'committed', history: ['planned', 'issued', 'deployed', 'verified', 'committed'], lastOutcome: 'committed' });
  expect(Object.keys(azure.outcome.endpoints)).toEqual(['app.contoso.test', 'old.contoso.test', 'www.contoso.test']);
  expect(azure.outcome.notifications.length).toBeGreaterThan(0);
  expect(azure.outcome).toEqual(embedded.outcome);
});

it('When the Azure run is over, then every invocation succeeded, nothing was dead-lettered, and the audit chain in Cosmos DB verifies', async () => {
  expect(azure.host.invocations.filter((i) => i.outcome === 'failed')).toEqual([]);
  for (const route of azureRoutes()) for (const sub of route.subscriptions) expect(broker.counts(route.topic, sub)).toMatchObject({ deadLettered: 0 });
  expect(broker.counts(DEAD_LETTER_TOPIC, DEAD_LETTER_SUBSCRIPTION).active).toBe(0);
  expect(await azure.runtime.deps.audit.verify(TENANT)).toMatchObject({ ok: true });
  // The keys certops made live in Key Vault, not in Cosmos DB or on disk.
  expect(existsSync(azure.scenario.config.dataDir)).toBe(false);
});

it('When a forged event names another tenant\'s endpoint, then the trigger records it on the dead-letter topic with the reason and completes', async () => {
  const forged = cloudEvent({
    id: 'forged-1',
    type: EVENT_TYPES.discoveryRequested,
    source: '/elsewhere',
    time: TEST_NOW,
    tenantId: TENANT,
    correlationId: 'forged',
    data: { sweepId: 'forged', endpoint: endpointRef({ host: 'intranet.fabrikam.test', port: 443 }) },
  });
  await azure.runtime.bus.publish(topicOf(EVENT_TYPES.discoveryRequested), [forged]);
  const receiver = serviceBus.createReceiver(DEAD_LETTER_TOPIC, DEAD_LETTER_SUBSCRIPTION);
  try {
    const [message] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 10_000 });
    expect(message?.body).toMatchObject({ topic: topicOf(EVENT_TYPES.discoveryRequested), subscription: 'discover', reason: 'TenantScopeError', body: { id: 'forged-1' } });
    expect((message!.body as { description: string }).description).toMatch(/names endpoint intranet\.fabrikam\.test:443/);
    await receiver.completeMessage(message!);
  } finally {
    await receiver.close();
  }
  expect(azure.host.invocations.filter((i) => i.outcome === 'failed')).toEqual([]);
  expect(await azure.runtime.deps.store.listObservations(TENANT)).not.toEqual(expect.arrayContaining([expect.objectContaining({ host: 'intranet.fabrikam.test' })]));
});
