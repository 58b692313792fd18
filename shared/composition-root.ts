/**
 * The one place that picks adapters. With no Azure settings (the default) certops runs embedded:
 * SQLite store, audit log, key store and bus in the data directory, the system resolver behind
 * the config's static host map, real TLS probes, certops' own local CA and the tenants' ACME CAs,
 * files deployment and console / outbox / signed-webhook notifications. The audit chains' signed
 * heads go to their own append-only file beside the database (the head log), signed with an
 * Ed25519 key derived from the master key; the signed webhook carries each tenant's latest head out.
 * Only certops' user may read the data directory (0700) and its files (0600). The Azure composition
 * (composition-azure.ts) plugs the Azure adapters into the same PipelineDeps.
 */
import { configuredSecretVariables } from './domain/secret-variables';
import { chmodSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Writable } from 'node:stream';
import type { CertopsConfig } from './config/model';
import { systemClock, type Clock } from './domain/clock';
import { createLogger, type Logger } from './observability/logger';
import type { Deployer } from './ports/deployer';
import type { Resolver } from './ports/resolver';
import { ConfigTenantDirectory } from './adapters/local/config-tenant-directory';
import { FilesDeployer } from './adapters/local/files-deployer';
import { RoutingDeployer } from './adapters/routing/routing-deployer';
import { auditChainKey, SqliteAuditLog } from './adapters/local/sqlite-audit-log';
import { SqliteCertificateStore } from './adapters/local/sqlite-certificate-store';
import { closeDatabase, openDatabase } from './adapters/local/sqlite-database';
import { SqliteEventBus } from './adapters/local/sqlite-event-bus';
import { loadOrCreateMasterKey, SqliteKeyStore } from './adapters/local/sqlite-key-store';
import { SqliteAcmeOrderJournal } from './adapters/local/sqlite-order-journal';
import { SqliteGovernanceStore } from './adapters/local/sqlite-governance-store';
import { headSignerFrom } from './adapters/local/ed25519-head-signer';
import { FileAuditHeadLog, HEAD_LOG_FILE } from './adapters/local/file-audit-head-log';
import { withAuditHeads } from './adapters/local/webhook-notifier';
import { buildIssuers, buildNotifiers, commonDeps, type NotifierOptions } from './composition-common';
import { EnvironmentCredential } from '@azure/identity';
import type { TokenCredential } from '@azure/core-auth';
import { EmbeddedPipeline, embeddedRoutes } from './pipeline/embedded-pipeline';
import type { PipelineDeps, RotationOptions } from './pipeline/stage';
import type { StageName } from './pipeline/topology';

/** The data directory: only certops' own user may list or enter it. */
export const DATA_DIR_MODE = 0o700;

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
  /** Deployers for target types beyond files (e.g. a KeyVaultDeployer on a host that reaches the vault). */
  deployers?: Deployer[];
  bus?: { maxDeliveryCount?: number; retryBaseDelayMs?: number; lockDurationMs?: number };
  /**
   * Wraps the chosen dependencies before the pipeline is built (crash and fault tests put a
   * decorator around the store, an issuer or the deployer). Production callers leave it unset.
   */
  decorate?: (deps: PipelineDeps) => PipelineDeps;
  /** Microsoft Graph for e-mail: the identity (default: AZURE_* client secret variables) and transport options. */
  graphCredential?: () => TokenCredential;
  graphFetchOptions?: NotifierOptions['graphFetchOptions'];
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

export function createEmbeddedRuntime(config: CertopsConfig, options: EmbeddedOptions = {}): EmbeddedRuntime {
  const env = options.env ?? process.env;
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? createLogger();
  // The audit, the inventory, the approvals and the master key live here: certops' user only
  // (issue 11, defect 6). An existing directory made under a looser umask is tightened too.
  mkdirSync(config.dataDir, { recursive: true, mode: DATA_DIR_MODE });
  chmodSync(config.dataDir, DATA_DIR_MODE);
  // Before the database: a master key others can read is refused before anything is written.
  const masterKey = loadOrCreateMasterKey(config.dataDir, env);
  const databaseFile = path.join(config.dataDir, 'certops.db');
  const db = openDatabase(databaseFile);
  const store = new SqliteCertificateStore(db);
  const audit = new SqliteAuditLog(db, clock, auditChainKey(masterKey));
  // The database's write lock serializes head appends across processes sharing the directory
  // (a `serve` and a `renew`); the heads themselves stay out of the database.
  const auditHeads = new FileAuditHeadLog(path.join(config.dataDir, HEAD_LOG_FILE), { exclusive: (fn) => db.transaction(fn).immediate() });
  const keyStore = new SqliteKeyStore(db, masterKey);
  const bus = new SqliteEventBus(db, {
    routes: embeddedRoutes(),
    clock,
    logger,
    ...options.bus,
  });
  const tenants = new ConfigTenantDirectory(config.tenants);
  const { issuers, close: closeIssuers } = buildIssuers({ tenants, keyStore, journal: new SqliteAcmeOrderJournal(db), claims: store, clock, env, logger });
  const notifiers = withAuditHeads(buildNotifiers(config, {
    env,
    notify: options.notify,
    consoleStream: options.consoleStream,
    graphCredential: options.graphCredential ?? (env.AZURE_CLIENT_SECRET ? () => new EnvironmentCredential() : undefined),
    graphFetchOptions: options.graphFetchOptions,
  }), (tenantId) => auditHeads.latest(tenantId));
  const outboxFile = config.notifications.outboxFile ?? null;

  const chosen: PipelineDeps = {
    ...commonDeps(config, { clock, logger, tenants, issuers, resolver: options.resolver, rotation: options.rotation }),
    store,
    audit,
    deployer: new RoutingDeployer([new FilesDeployer({ logger, secretNames: configuredSecretVariables(config) }), ...(options.deployers ?? [])]),
    keys: keyStore,
    governance: new SqliteGovernanceStore(db),
    auditSigner: headSignerFrom(masterKey),
    auditHeads,
    notifiers,
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
      await closeIssuers();
      closeDatabase(db);
    },
  };
}
