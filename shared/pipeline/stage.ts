/**
 * What a stage handler is and what it is given. Handlers are the same code whether the embedded
 * runtime or an Azure Functions trigger invokes them: they receive a validated CloudEvent and
 * return the events they emit; the runner validates both sides and the transport publishes.
 */
import { randomUUID } from 'node:crypto';
import type { Clock } from '../domain/clock';
import { cloudEvent, type CloudEvent } from '../domain/events';
import type { DiscoveryOptions } from '../config/model';
import type { TrustAnchors } from '../domain/chain';
import type { Logger } from '../observability/logger';
import type { AuditLog, AuditEntry } from '../ports/audit-log';
import type { CertificateStore } from '../ports/certificate-store';
import type { Deployer } from '../ports/deployer';
import type { GovernanceStore } from '../ports/governance-store';
import type { AuditHeadLog, HeadSigner } from '../ports/audit-head-log';
import type { CertopsMetrics } from '../observability/metrics';
import type { DnsRecordLookup } from '../ports/dns-record-lookup';
import type { Issuer } from '../ports/issuer';
import type { KeyStore } from '../ports/key-store';
import type { Notifier } from '../ports/notifier';
import type { Prober } from '../ports/prober';
import type { Resolver } from '../ports/resolver';
import type { TenantDirectory } from '../ports/tenant-directory';
import type { EventType, StageName } from './topology';

export interface RotationOptions {
  /** How long the rotate stage waits for every address to serve the new certificate. */
  verifyTimeoutMs: number;
  /** First delay between verification handshakes; doubles up to verifyMaxDelayMs. */
  verifyInitialDelayMs: number;
  verifyMaxDelayMs: number;
  /** Consecutive passing checks required (old nginx workers accept for a moment after a reload). */
  verifyConfirmations: number;
  /** ...and the passing checks must span this long (ms) before the rotation counts as verified. */
  verifySettleMs: number;
  /**
   * How long a rotation stays leased to the worker driving it without a heartbeat; keep it no
   * longer than the bus lock, so that the redelivery after a crash finds the lease run out.
   */
  leaseMs: number;
  /**
   * How long a request waits for a rotation another worker holds (finishing, or its lease running
   * out) before it gives up and is retried by the bus. Keep it under the transport's maximum lock
   * renewal (Service Bus SDK: 5 minutes).
   */
  maxLeaseWaitMs: number;
  /** Above this many endpoints, a certificate on several targets is deployed to a canary first. */
  canaryThreshold: number;
}

/** Everything a stage may touch, chosen once by the composition root. */
export interface PipelineDeps {
  clock: Clock;
  logger: Logger;
  tenants: TenantDirectory;
  store: CertificateStore;
  audit: AuditLog;
  resolver: Resolver;
  prober: Prober;
  issuers: ReadonlyMap<string, Issuer>;
  deployer: Deployer;
  /** Keys at rest (encrypted): a rotation's new key waits here between issuance and commit. */
  keys: KeyStore;
  /** Counters and gauges for /metrics (absent in tools that do not serve it). */
  metrics?: CertopsMetrics;
  /** Signs the audit chains' heads (pipeline/audit-heads.ts): Ed25519 on one machine, a Key Vault key on Azure. */
  auditSigner: HeadSigner;
  /** The signed heads, apart from the records: a file beside the database, an immutable Blob container on Azure. */
  auditHeads: AuditHeadLog;
  /** Raised gates, override outcomes, L2 approvals, snoozes and the digest queue. */
  governance: GovernanceStore;
  /** Public address of the API, for the action links in notifications (none: no links). */
  actionsBaseUrl?: string;
  notifiers: readonly Notifier[];
  discovery: DiscoveryOptions;
  rotation: RotationOptions;
  /** Trust anchors for a tenant: the system roots, the tenant's CA files, certops' own CAs. */
  trustAnchors(tenantId: string): Promise<TrustAnchors>;
  /** The DNS a tenant's ACME CA will look at (for DNS-01 readiness). */
  dnsLookup(tenantId: string): DnsRecordLookup;
}

export interface StageContext {
  stage: StageName;
  deps: PipelineDeps;
  log: Logger;
  tenantId: string;
  correlationId: string;
  /** Builds an event to emit, carrying this invocation's tenant and correlation id. */
  emit<T>(type: EventType, data: T, options?: { id?: string; subject?: string; tenantId?: string }): CloudEvent<T>;
  /** Appends to the tenant's audit chain with this stage as the actor. */
  audit(kind: string, data: Record<string, unknown>): Promise<void>;
}

export type StageHandler = (event: CloudEvent, ctx: StageContext) => Promise<CloudEvent[]>;

export function stageContext(stage: StageName, event: CloudEvent, deps: PipelineDeps, log: Logger): StageContext {
  return {
    stage,
    deps,
    log,
    tenantId: event.tenantid,
    correlationId: event.correlationid,
    emit: (type, data, options = {}) =>
      cloudEvent({
        id: options.id ?? randomUUID(),
        type,
        source: `/certops/${stage}`,
        time: deps.clock.now(),
        tenantId: options.tenantId ?? event.tenantid,
        correlationId: event.correlationid,
        subject: options.subject,
        data,
      }),
    audit: async (kind, data) => {
      const entry: AuditEntry = { kind, actor: `stage:${stage}`, correlationId: event.correlationid, data };
      await deps.audit.append(event.tenantid, entry);
    },
  };
}
