/**
 * The one place that picks adapters. With no Azure settings (the default) certops runs embedded:
 * SQLite store, audit log, key store and bus in the data directory, the system resolver behind
 * the config's static host map, real TLS probes, certops' own local CA and the tenants' ACME CAs,
 * files deployment and console / outbox / signed-webhook notifications. The Azure composition
 * comes with the Azure adapters (issue 5) and plugs the same PipelineDeps.
 */
import { getServers } from 'node:dns';
import { readFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Writable } from 'node:stream';
import type { CertopsConfig } from './config/model';
import { systemClock, type Clock } from './domain/clock';
import { mergeTrustAnchors, systemTrustAnchors, trustAnchorsFromPem, type TrustAnchors } from './domain/chain';
import { createLogger, type Logger } from './observability/logger';
import type { Issuer } from './ports/issuer';
import type { Notifier } from './ports/notifier';
import type { Resolver } from './ports/resolver';
import { DnsCnameLookup } from './adapters/acme/dns-cname-lookup';
import { TenantAcmeIssuer } from './adapters/acme/tenant-acme-issuer';
import type { DnsRecordLookup } from './ports/dns-record-lookup';
import { ConfigTenantDirectory } from './adapters/local/config-tenant-directory';
import { ConsoleNotifier } from './adapters/local/console-notifier';
import { FilesDeployer } from './adapters/local/files-deployer';
import { RoutingDeployer } from './adapters/routing/routing-deployer';
import { LocalCaIssuer } from './adapters/local/local-ca-issuer';
import { OutboxNotifier } from './adapters/local/outbox-notifier';
import { auditChainKey, SqliteAuditLog } from './adapters/local/sqlite-audit-log';
import { SqliteCertificateStore } from './adapters/local/sqlite-certificate-store';
import { closeDatabase, openDatabase } from './adapters/local/sqlite-database';
import { SqliteEventBus } from './adapters/local/sqlite-event-bus';
import { loadOrCreateMasterKey, SqliteKeyStore } from './adapters/local/sqlite-key-store';
import { SqliteAcmeOrderJournal } from './adapters/local/sqlite-order-journal';
import { WebhookNotifier } from './adapters/local/webhook-notifier';
import { StaticResolver, SystemResolver } from './adapters/tls/system-resolver';
import { TlsProber } from './adapters/tls/tls-prober';
import { EmbeddedPipeline, embeddedRoutes } from './pipeline/embedded-pipeline';
import type { PipelineDeps, RotationOptions } from './pipeline/stage';
import type { StageName } from './pipeline/topology';

export interface EmbeddedOptions {
  clock?: Clock;
  logger?: Logger;
  env?: NodeJS.ProcessEnv;
  /** Replaces the resolver (tests); by default the config's host map over the system resolver. */
  resolver?: Resolver;
  /** Where console notifications go (default stdout); null turns the console channel off. */
  consoleStream?: Writable | null;
  /** false for read-only commands (report, audit): no channel is built, so none needs its secret. */
  notify?: boolean;
  rotation?: Partial<RotationOptions>;
  bus?: { maxDeliveryCount?: number; retryBaseDelayMs?: number; lockDurationMs?: number };
  /**
   * Wraps the chosen dependencies before the pipeline is built (crash and fault tests put a
   * decorator around the store, an issuer or the deployer). Production callers leave it unset.
   */
  decorate?: (deps: PipelineDeps) => PipelineDeps;
  /** Told each time a stage settles a message (progress display, tests). */
  observer?: (stage: StageName, outcome: 'completed' | 'dead-letter') => void;
}

export interface EmbeddedRuntime {
  config: CertopsConfig;
  deps: PipelineDeps;
  pipeline: EmbeddedPipeline;
  bus: SqliteEventBus;
  databaseFile: string;
  outboxFile: string | null;
  close(): Promise<void>;
}

/** The lease matches the embedded bus lock (30 s): a crashed rotation's redelivery finds it run out. */
const DEFAULT_ROTATION: RotationOptions = {
  verifyTimeoutMs: 10_000,
  verifyInitialDelayMs: 50,
  verifyMaxDelayMs: 1_000,
  verifyConfirmations: 2,
  // Old nginx workers accept for up to ~130 ms after a reload (more on a busy machine).
  verifySettleMs: 250,
  leaseMs: 30_000,
  maxLeaseWaitMs: 120_000,
  canaryThreshold: 3,
};

export function createEmbeddedRuntime(config: CertopsConfig, options: EmbeddedOptions = {}): EmbeddedRuntime {
  const env = options.env ?? process.env;
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? createLogger();
  mkdirSync(config.dataDir, { recursive: true });
  const databaseFile = path.join(config.dataDir, 'certops.db');
  const db = openDatabase(databaseFile);
  const store = new SqliteCertificateStore(db);
  const masterKey = loadOrCreateMasterKey(config.dataDir, env);
  const audit = new SqliteAuditLog(db, clock, auditChainKey(masterKey));
  const keyStore = new SqliteKeyStore(db, masterKey);
  const bus = new SqliteEventBus(db, {
    routes: embeddedRoutes(),
    clock,
    logger,
    ...options.bus,
  });
  const tenants = new ConfigTenantDirectory(config.tenants);
  const localCa = new LocalCaIssuer({ keyStore, clock });
  const acme = new TenantAcmeIssuer({ tenants, keyStore, journal: new SqliteAcmeOrderJournal(db), clock, env, logger });
  const issuers = new Map<string, Issuer>([
    [localCa.name, localCa],
    [acme.name, acme],
  ]);

  const notifiers: Notifier[] = [];
  const notify = options.notify ?? true;
  if (notify && config.notifications.console && options.consoleStream !== null) notifiers.push(new ConsoleNotifier({ stream: options.consoleStream ?? process.stdout }));
  const outboxFile = config.notifications.outboxFile ?? null;
  if (notify && outboxFile) notifiers.push(new OutboxNotifier({ file: outboxFile }));
  if (notify && config.notifications.webhook) {
    const secret = env[config.notifications.webhook.secretEnv];
    if (!secret) throw new Error(`notifications.webhook.secretEnv names ${config.notifications.webhook.secretEnv}, which is not set; set it to the webhook's shared secret`);
    notifiers.push(new WebhookNotifier({ url: config.notifications.webhook.url, secret }));
  }

  const tenantAnchorPems = new Map<string, string[]>();
  const anchorCache = new Map<string, TrustAnchors>();
  const trustAnchors = async (tenantId: string): Promise<TrustAnchors> => {
    let filePems = tenantAnchorPems.get(tenantId);
    if (!filePems) {
      filePems = (tenants.get(tenantId)?.trustedCaFiles ?? []).map((f) => readFileSync(f, 'utf8'));
      tenantAnchorPems.set(tenantId, filePems);
    }
    const issuerPems = (await Promise.all([...issuers.values()].map((i) => i.trustAnchorsPem(tenantId)))).flat();
    const key = `${tenantId}|${issuerPems.join('')}`;
    let anchors = anchorCache.get(key);
    if (!anchors) {
      anchors = mergeTrustAnchors(systemTrustAnchors(), trustAnchorsFromPem([...filePems, ...issuerPems]));
      anchorCache.set(key, anchors);
    }
    return anchors;
  };

  const lookups = new Map<string, DnsRecordLookup>();
  const dnsLookup = (tenantId: string): DnsRecordLookup => {
    const server = tenants.get(tenantId)?.acme?.dns01?.resolver;
    const key = server ?? '(system)';
    let lookup = lookups.get(key);
    if (!lookup) {
      lookup = new DnsCnameLookup(server ? [server] : getServers());
      lookups.set(key, lookup);
    }
    return lookup;
  };

  const chosen: PipelineDeps = {
    clock,
    logger,
    tenants,
    store,
    audit,
    resolver: options.resolver ?? new StaticResolver(config.hosts ?? {}, new SystemResolver()),
    prober: new TlsProber(),
    issuers,
    deployer: new RoutingDeployer([new FilesDeployer({ logger })]),
    keys: keyStore,
    notifiers,
    discovery: config.discovery,
    rotation: { ...DEFAULT_ROTATION, ...options.rotation },
    trustAnchors,
    dnsLookup,
  };
  const deps = options.decorate ? options.decorate(chosen) : chosen;
  const pipeline = new EmbeddedPipeline(deps, bus, options.observer);
  return {
    config,
    deps,
    pipeline,
    bus,
    databaseFile,
    outboxFile,
    close: async () => {
      await pipeline.stop();
      await acme.close();
      closeDatabase(db);
    },
  };
}
