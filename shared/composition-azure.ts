/**
 * The Azure composition: the same PipelineDeps as the embedded runtime, on the Azure adapters.
 * Cosmos DB holds the inventory, the rotation state, the ACME order journal and the audit chains
 * (containers from the Pulumi program); Service Bus carries the events (the Functions host runs
 * the triggers; this bus only publishes, and records dead letters with their reason); Key Vault
 * holds every key (the local CA's, ACME accounts', a rotation's staged key) and receives
 * certificates for services bound to it. The audit chains' signed heads go to append blobs in the
 * host storage account's `audit-heads` container, which the Pulumi program makes immutable
 * (time-based retention, appends allowed), and are signed by a Key Vault key (ES256 through the
 * vault's sign operation). Every client authenticates with the platform identity.
 *
 * Clients are injectable: tests point them at the stand-ins (the Cosmos test server, the AMQP
 * broker, the Key Vault stub) with a fake credential; production builds them from settings.
 */
import { configuredSecretVariables } from './domain/secret-variables';
import { randomBytes } from 'node:crypto';
import type { Writable } from 'node:stream';
import type { CosmosClient, Container } from '@azure/cosmos';
import { ContainerClient } from '@azure/storage-blob';
import { ServiceBusClient } from '@azure/service-bus';
import type { CertopsConfig } from './config/model';
import type { AzureSettings } from './config/settings';
import { systemClock, type Clock } from './domain/clock';
import { ConfigError } from './domain/errors';
import { createLogger, type Logger } from './observability/logger';
import type { Deployer } from './ports/deployer';
import type { KeyStore } from './ports/key-store';
import type { CertificateStore } from './ports/certificate-store';
import type { Resolver } from './ports/resolver';
import { CosmosAuditLog } from './adapters/azure/cosmos-audit-log';
import { CosmosCertificateStore } from './adapters/azure/cosmos-certificate-store';
import { CosmosAcmeOrderJournal } from './adapters/azure/cosmos-order-journal';
import { CosmosGovernanceStore } from './adapters/azure/cosmos-governance-store';
import { AUDIT_HEADS_CONTAINER, BlobAuditHeadLog } from './adapters/azure/blob-audit-head-log';
import { createKeyVaultKeyClients, KeyVaultHeadSigner, type KeyVaultKeyClients } from './adapters/azure/key-vault-head-signer';
import { withAuditHeads } from './adapters/local/webhook-notifier';
import { startOtelExport } from './observability/otel-export';
import { CosmosPlatformAdmin } from './adapters/azure/cosmos-platform-admin';
import { cosmosClientFor } from './adapters/azure/cosmos-setup';
import type { CredentialProvider } from './adapters/azure/identity';
import { createKeyVaultClients, type KeyVaultClients } from './adapters/azure/key-vault-clients';
import { KeyVaultDeployer } from './adapters/azure/key-vault-deployer';
import { KeyVaultKeyStore } from './adapters/azure/key-vault-key-store';
import { COSMOS_CONTAINERS, DEAD_LETTER_SUBSCRIPTION, DEAD_LETTER_TOPIC } from './adapters/azure/layout';
import { ServiceBusEventBus } from './adapters/azure/service-bus-event-bus';
import { ConfigTenantDirectory } from './adapters/local/config-tenant-directory';
import { FilesDeployer } from './adapters/local/files-deployer';
import { RoutingDeployer } from './adapters/routing/routing-deployer';
import { buildIssuers, buildNotifiers, commonDeps, type NotifierOptions } from './composition-common';
import type { PipelineDeps, RotationOptions } from './pipeline/stage';
import { routes } from './pipeline/topology';

/** The platform's own keys live under this pseudo-tenant (never a configured tenant id: ids cannot start with '_'). */
export const PLATFORM_TENANT = '_platform';
const AUDIT_KEY_NAME = 'audit-chain-key';
/** How long an instance waits for the one that won the audit key election to store it. */
const AUDIT_KEY_WAIT_MS = 30_000;

export interface AzureRuntimeOptions {
  credentials: CredentialProvider;
  clients?: {
    cosmos?: CosmosClient;
    serviceBus?: ServiceBusClient;
    /** The SDK clients of a vault URL (the platform's, and any a key-vault target names). */
    keyVault?: (vaultUrl: string) => KeyVaultClients;
    /** The key clients of the platform vault (the audit head signing key). */
    keyVaultKeys?: (vaultUrl: string) => KeyVaultKeyClients;
    /** The head log's container (default: `audit-heads` in the host storage account, see auditHeadsContainerUrl). */
    auditHeads?: ContainerClient;
  };
  env?: NodeJS.ProcessEnv;
  clock?: Clock;
  logger?: Logger;
  resolver?: Resolver;
  rotation?: Partial<RotationOptions>;
  consoleStream?: Writable | null;
  notify?: boolean;
  graphFetchOptions?: NotifierOptions['graphFetchOptions'];
}

export interface AzureRuntime {
  config: CertopsConfig;
  deps: PipelineDeps;
  bus: ServiceBusEventBus;
  /** Records an event a trigger refuses, with its reason, on the dead-letter topic (the binding cannot dead-letter with one). */
  deadLetter(entry: { topic: string; subscription: string; reason: string; description: string; body: unknown }): Promise<void>;
  close(): Promise<void>;
}

/** The Service Bus routes of the Azure runtime: the topology's, plus the dead-letter topic. */
export function azureRoutes(): Array<{ topic: string; subscriptions: string[] }> {
  return [...routes(), { topic: DEAD_LETTER_TOPIC, subscriptions: [DEAD_LETTER_SUBSCRIPTION] }];
}

export async function createAzureRuntime(config: CertopsConfig, settings: AzureSettings, options: AzureRuntimeOptions): Promise<AzureRuntime> {
  const env = options.env ?? process.env;
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? createLogger();
  const credential = options.credentials.platform();

  const cosmos = options.clients?.cosmos ?? cosmosClientFor(settings.cosmosEndpoint, credential);
  const database = cosmos.database(settings.cosmosDatabase);
  const state: Container = database.container(COSMOS_CONTAINERS.state);
  const auditContainer: Container = database.container(COSMOS_CONTAINERS.audit);
  const admin = new CosmosPlatformAdmin({ state, audit: auditContainer });
  const store = new CosmosCertificateStore(state, { clock, platformAdmin: admin });

  const vaults = new Map<string, KeyVaultClients>();
  const keyVault = (vaultUrl: string): KeyVaultClients => {
    let clients = vaults.get(vaultUrl);
    if (!clients) {
      clients = options.clients?.keyVault?.(vaultUrl) ?? createKeyVaultClients(vaultUrl, credential);
      vaults.set(vaultUrl, clients);
    }
    return clients;
  };
  const keyStore = new KeyVaultKeyStore(keyVault(settings.keyVaultUrl).secrets);
  const chainKey = await auditChainKey(keyStore, store);
  const audit = new CosmosAuditLog(auditContainer, clock, chainKey, { platformAdmin: admin });
  const auditHeads = new BlobAuditHeadLog(options.clients?.auditHeads ?? new ContainerClient(auditHeadsContainerUrl(env), credential));
  const auditSigner = await KeyVaultHeadSigner.open(
    options.clients?.keyVaultKeys?.(settings.keyVaultUrl) ?? createKeyVaultKeyClients(settings.keyVaultUrl, credential),
  );

  const ownsServiceBus = !options.clients?.serviceBus;
  const serviceBus =
    options.clients?.serviceBus ??
    ('fullyQualifiedNamespace' in settings.serviceBus
      ? new ServiceBusClient(settings.serviceBus.fullyQualifiedNamespace, credential)
      : new ServiceBusClient(settings.serviceBus.connectionString));
  const bus = new ServiceBusEventBus({ client: serviceBus, routes: azureRoutes(), logger, clock });

  const tenants = new ConfigTenantDirectory(config.tenants);
  const { issuers, close: closeIssuers } = buildIssuers({ tenants, keyStore, journal: new CosmosAcmeOrderJournal(state), claims: store, clock, env, logger });
  const deployers: Deployer[] = [new KeyVaultDeployer({ clientsFor: keyVault, clock }), new FilesDeployer({ logger, secretNames: configuredSecretVariables(config) })];

  const deps: PipelineDeps = {
    ...commonDeps(config, { clock, logger, tenants, issuers, resolver: options.resolver, rotation: options.rotation }),
    store,
    audit,
    deployer: new RoutingDeployer(deployers),
    keys: keyStore,
    governance: new CosmosGovernanceStore(state),
    auditSigner,
    auditHeads,
    notifiers: withAuditHeads(
      buildNotifiers(config, { env, notify: options.notify, consoleStream: options.consoleStream, graphCredential: () => credential, graphFetchOptions: options.graphFetchOptions }),
      (tenantId) => auditHeads.latest(tenantId),
    ),
  };
  // Metrics towards Application Insights (OpenTelemetry), signed in with the platform identity.
  const aiConnection = env.APPLICATIONINSIGHTS_CONNECTION_STRING;
  const otel = aiConnection
    ? startOtelExport({
        metrics: deps.metrics!,
        sources: deps,
        connectionString: aiConnection,
        credential: /^Authorization=AAD$/i.test(env.APPLICATIONINSIGHTS_AUTHENTICATION_STRING ?? '') ? credential : undefined,
        serviceVersion: '0.1.0',
        resourceAttributes: env.WEBSITE_INSTANCE_ID ? { 'service.instance.id': env.WEBSITE_INSTANCE_ID } : {},
        onError: (err) => logger.warn({ err }, 'metrics export to Application Insights failed; the next interval goes on'),
      })
    : undefined;
  return {
    config,
    deps,
    bus,
    deadLetter: (entry) => bus.publishRaw(DEAD_LETTER_TOPIC, [{ ...entry, deadLetteredAt: clock.now().toISOString() }]),
    close: async () => {
      await otel?.shutdown();
      await bus.stop();
      await closeIssuers();
      if (ownsServiceBus) await serviceBus.close();
      if (!options.clients?.cosmos) cosmos.dispose();
    },
  };
}

/**
 * The head log's container URL. The container lives in the Function App's host storage account
 * (infra/audit-heads.ts), which the Functions host itself names by `AzureWebJobsStorage__blobServiceUri`
 * or `AzureWebJobsStorage__accountName` (identity-based connection settings): no setting of
 * certops' own, and no key.
 */
export function auditHeadsContainerUrl(env: NodeJS.ProcessEnv): string {
  const serviceUri = env.AzureWebJobsStorage__blobServiceUri?.trim().replace(/\/+$/, '');
  const account = env.AzureWebJobsStorage__accountName?.trim();
  if (serviceUri) return `${serviceUri}/${AUDIT_HEADS_CONTAINER}`;
  if (account) return `https://${account}.blob.core.windows.net/${AUDIT_HEADS_CONTAINER}`;
  throw new ConfigError('settings', [
    `AzureWebJobsStorage__accountName (or AzureWebJobsStorage__blobServiceUri): is required when CERTOPS_RUNTIME is azure (the storage account whose "${AUDIT_HEADS_CONTAINER}" container keeps the signed audit heads)`,
  ]);
}

/**
 * The HMAC key of the audit chains, kept in Key Vault. The first instance to start creates it:
 * instances race, so one wins an election (a claim in Cosmos DB, which is atomic) and writes the
 * key; the others wait for it. Two keys must never exist: records keyed with a lost one would
 * fail verification forever. A winner that fails to write (Key Vault RBAC still propagating after
 * the install) gives its claim back; a winner that died between claim and write is taken over once
 * its waiters have waited `waitMs`. Everybody then uses what is stored, not what it generated.
 */
export async function auditChainKey(keys: KeyStore, store: CertificateStore, waitMs = AUDIT_KEY_WAIT_MS): Promise<Buffer> {
  const claim = `create:${AUDIT_KEY_NAME}`;
  for (let election = 0; election < 2; election++) {
    const stored = await keys.get(PLATFORM_TENANT, AUDIT_KEY_NAME);
    if (stored) return decodeKey(stored);
    if (await store.claim(PLATFORM_TENANT, claim)) {
      try {
        await keys.put(PLATFORM_TENANT, AUDIT_KEY_NAME, randomBytes(32).toString('base64'));
      } catch (err) {
        await store.releaseClaim(PLATFORM_TENANT, claim).catch(() => undefined);
        throw err;
      }
      return decodeKey((await keys.get(PLATFORM_TENANT, AUDIT_KEY_NAME))!);
    }
    const deadline = Date.now() + waitMs;
    while (Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(250, waitMs)));
      const written = await keys.get(PLATFORM_TENANT, AUDIT_KEY_NAME);
      if (written) return decodeKey(written);
    }
    // The winner never wrote it (it died between its claim and the write): elect again.
    await store.releaseClaim(PLATFORM_TENANT, claim);
  }
  throw new ConfigError('Key Vault', [`the audit chain key "${AUDIT_KEY_NAME}" could not be created in Key Vault; check the Function App identity's Key Vault Secrets Officer role`]);
}

function decodeKey(base64: string): Buffer {
  const key = Buffer.from(base64, 'base64');
  if (key.length !== 32) throw new ConfigError('Key Vault', [`the audit chain key "${AUDIT_KEY_NAME}" is not 32 bytes of base64; restore it from backup`]);
  return key;
}
