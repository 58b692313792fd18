/**
 * What both compositions (embedded and Azure) build the same way: the issuers over a key store
 * and an order journal, the notification channels, the trust anchors per tenant, the DNS a
 * tenant's CA looks at, and the defaults of the rotation engine.
 */
import { getServers } from 'node:dns';
import { readFileSync } from 'node:fs';
import type { Writable } from 'node:stream';
import type { CertopsConfig } from './config/model';
import type { Clock } from './domain/clock';
import { mergeTrustAnchors, systemTrustAnchors, trustAnchorsFromPem, type TrustAnchors } from './domain/chain';
import type { Logger } from './observability/logger';
import type { AcmeOrderJournal } from './ports/acme-order-journal';
import type { DnsRecordLookup } from './ports/dns-record-lookup';
import type { Issuer } from './ports/issuer';
import type { KeyStore } from './ports/key-store';
import type { Notifier } from './ports/notifier';
import type { TenantDirectory } from './ports/tenant-directory';
import { DnsCnameLookup } from './adapters/acme/dns-cname-lookup';
import { TenantAcmeIssuer } from './adapters/acme/tenant-acme-issuer';
import { ConsoleNotifier } from './adapters/local/console-notifier';
import { LocalCaIssuer, type CaCreationClaims } from './adapters/local/local-ca-issuer';
import { OutboxNotifier } from './adapters/local/outbox-notifier';
import { WebhookNotifier } from './adapters/local/webhook-notifier';
import type { PipelineDeps, RotationOptions } from './pipeline/stage';
import type { Resolver } from './ports/resolver';
import { StaticResolver, SystemResolver } from './adapters/tls/system-resolver';
import { TlsProber } from './adapters/tls/tls-prober';
import { CertopsMetrics } from './observability/metrics';
import type { TokenCredential } from '@azure/core-auth';
import { graphClient, type GraphClientOptions } from './adapters/graph/graph-client';
import { GraphMailNotifier } from './adapters/graph/graph-mail-notifier';
import { TeamsWorkflowNotifier } from './adapters/teams/teams-workflow-notifier';

/** The lease matches the bus lock (30 s): a crashed rotation's redelivery finds it run out. */
export const DEFAULT_ROTATION: RotationOptions = {
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

export interface Issuers {
  issuers: Map<string, Issuer>;
  close(): Promise<void>;
}

/**
 * certops' own CA and the tenants' ACME CAs, their keys in `keyStore`, ACME orders in `journal`;
 * `claims` (the certificate store) elects which process creates a tenant's CA.
 */
export function buildIssuers(input: { tenants: TenantDirectory; keyStore: KeyStore; journal: AcmeOrderJournal; claims: CaCreationClaims; clock: Clock; env: NodeJS.ProcessEnv; logger: Logger }): Issuers {
  const localCa = new LocalCaIssuer({ keyStore: input.keyStore, clock: input.clock, claims: input.claims });
  const acme = new TenantAcmeIssuer(input);
  return {
    issuers: new Map<string, Issuer>([
      [localCa.name, localCa],
      [acme.name, acme],
    ]),
    close: () => acme.close(),
  };
}

export interface NotifierOptions {
  env: NodeJS.ProcessEnv;
  notify?: boolean;
  consoleStream?: Writable | null;
  /** Who calls Microsoft Graph for e-mail (the managed identity in Azure; injected in tests). */
  graphCredential?: () => TokenCredential;
  /** Transport options for Graph (a trusted test CA). */
  graphFetchOptions?: GraphClientOptions['fetchOptions'];
  logger?: Logger;
}

/** The configured channels; none when `notify` is false (read-only commands need no secret). */
export function buildNotifiers(config: CertopsConfig, options: NotifierOptions): Notifier[] {
  const notifiers: Notifier[] = [];
  if (options.notify === false) return notifiers;
  const { teams, email } = config.notifications;
  if (teams) {
    const url = options.env[teams.urlEnv];
    if (!url) throw new Error(`notifications.teams.urlEnv names ${teams.urlEnv}, which is not set; set it to the Teams workflow's URL`);
    notifiers.push(new TeamsWorkflowNotifier({ url }));
  }
  if (email) {
    if (!options.graphCredential) throw new Error('notifications.email needs a Microsoft Graph identity: the managed identity on Azure, or AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET for an app with Mail.Send');
    const client = graphClient({ baseUrl: email.graphBaseUrl, credential: options.graphCredential(), fetchOptions: options.graphFetchOptions });
    notifiers.push(new GraphMailNotifier({ client, senderUserId: email.sender }));
  }
  if (config.notifications.console && options.consoleStream !== null) notifiers.push(new ConsoleNotifier({ stream: options.consoleStream ?? process.stdout }));
  if (config.notifications.outboxFile) notifiers.push(new OutboxNotifier({ file: config.notifications.outboxFile }));
  if (config.notifications.webhook) {
    const secret = options.env[config.notifications.webhook.secretEnv];
    if (!secret) throw new Error(`notifications.webhook.secretEnv names ${config.notifications.webhook.secretEnv}, which is not set; set it to the webhook's shared secret`);
    notifiers.push(new WebhookNotifier({ url: config.notifications.webhook.url, secret }));
  }
  return notifiers;
}

/** Trust anchors of a tenant: the system roots, the tenant's CA files, and what its issuers sign with (cached). */
export function trustAnchorsFor(tenants: TenantDirectory, issuers: ReadonlyMap<string, Issuer>): (tenantId: string) => Promise<TrustAnchors> {
  const tenantAnchorPems = new Map<string, string[]>();
  const anchorCache = new Map<string, TrustAnchors>();
  return async (tenantId) => {
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
}

/** The DNS a tenant's ACME CA will look at (its configured resolver, or this host's). */
export function dnsLookupFor(tenants: TenantDirectory): (tenantId: string) => DnsRecordLookup {
  const lookups = new Map<string, DnsRecordLookup>();
  return (tenantId) => {
    const server = tenants.get(tenantId)?.acme?.dns01?.resolver;
    const key = server ?? '(system)';
    let lookup = lookups.get(key);
    if (!lookup) {
      lookup = new DnsCnameLookup(server ? [server] : getServers());
      lookups.set(key, lookup);
    }
    return lookup;
  };
}

/** The dependencies both runtimes build the same way from the configuration; each adds its stores, keys, deployer, signer and channels. */
export function commonDeps(
  config: CertopsConfig,
  parts: { clock: Clock; logger: Logger; tenants: TenantDirectory; issuers: ReadonlyMap<string, Issuer>; resolver?: Resolver; rotation?: Partial<RotationOptions> },
): Pick<PipelineDeps, 'clock' | 'logger' | 'tenants' | 'resolver' | 'prober' | 'issuers' | 'metrics' | 'actionsBaseUrl' | 'discovery' | 'rotation' | 'trustAnchors' | 'dnsLookup'> {
  const { clock, logger, tenants, issuers } = parts;
  return {
    clock,
    logger,
    tenants,
    resolver: parts.resolver ?? new StaticResolver(config.hosts ?? {}, new SystemResolver()),
    prober: new TlsProber(),
    issuers,
    metrics: new CertopsMetrics({ tenants }),
    actionsBaseUrl: config.notifications.actionsBaseUrl,
    discovery: config.discovery,
    rotation: { ...DEFAULT_ROTATION, ...parts.rotation },
    trustAnchors: trustAnchorsFor(tenants, issuers),
    dnsLookup: dnsLookupFor(tenants),
  };
}
