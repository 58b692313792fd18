/**
 * The configuration model: tenants, their endpoints, the certificates certops manages for them,
 * the assigned human and policy overrides. Validated by config-schema.ts; loaded by load-config.ts.
 */
import type { GateLevel, ActionType } from '../domain/gate-policy';
import type { RiskRules } from '../domain/gate-risks';
import type { LearningRules } from '../domain/override-learning';
import type { Notification } from '../ports/notifier';

export interface Contact {
  name: string;
  email?: string;
}

export interface RenewalPolicyConfig {
  /** Renew when this many days remain (clamped to the lifetime; see domain/renewal.ts). */
  renewBeforeDays?: number;
  /** Renew at this fraction of the lifetime (0 < r < 1). Default 2/3. */
  renewAtRatio?: number;
}

export interface TenantPolicy {
  renewal?: RenewalPolicyConfig;
  /** Gate level per action type; renew and rotate default to L1. */
  gate?: Partial<Record<ActionType, GateLevel>>;
  /** What raises one action's gate (domain/gate-risks.ts). */
  risk?: RiskRules;
  /** When the override rate raises a pair to L2, and when it relaxes (domain/override-learning.ts). */
  learning?: LearningRules;
  /** How long an L2 approval request stays open (default 72 hours). */
  approvalTtlHours?: number;
  /**
   * How long the private key a rotation replaced is kept, so that a human can override (roll
   * back) the rotation (default 7 days); then it is deleted and the rotation can no longer be undone.
   */
  rollbackWindowDays?: number;
  notify?: NotifyPolicy;
}

/** Noise control for a tenant's notifications (domain/notification-policy.ts). */
export interface NotifyPolicy {
  /** Below this severity, notifications go to the daily digest instead (default: info, i.e. all sent). */
  minSeverity?: Notification['severity'];
  /** During these hours (HH:MM–HH:MM, in `timeZone`, default UTC) only critical ones are sent; the rest wait for the digest. */
  quietHours?: { start: string; end: string; timeZone?: string };
  /** Endpoint ids (`host:port`) or certificate ids never notified about (their state is still recorded and audited). */
  exclude?: string[];
  /** Who gets which kind: the assignee (default) or the escalation contact. */
  routes?: Array<{ kinds: Notification['kind'][]; to: 'assignee' | 'escalation' }>;
}

export interface EndpointConfig {
  host: string;
  port: number;
  /** TLS SNI server name; defaults to host (none for IP literals). */
  sni?: string;
  /** Id of a managed certificate (below) this endpoint serves. */
  managed?: string;
  tags?: string[];
}

export interface ReloadHook {
  /** argv of a command to run after the files are written (no shell). */
  command?: string[];
  /** URL to POST to after the files are written (loopback or the MSP's agent). */
  url?: string;
  /**
   * Names of environment variables the command receives, besides PATH, LANG and HOME. Nothing
   * else of certops' environment reaches it (no master key, no Azure secret).
   */
  env?: string[];
}

/** Where a target sits among the certificate's endpoints (all targets share it). */
export interface TargetPlacement {
  /**
   * Endpoint ids (`host:port`, or `host:port/sni`) this target serves: they are verified right
   * after it is deployed when it is the canary. Default: every endpoint of the certificate.
   */
  serves?: string[];
  /** Deployed and verified before the other targets (default: the first target). */
  canary?: boolean;
}

export interface FilesTarget extends TargetPlacement {
  type: 'files';
  certFile: string;
  keyFile: string;
  /** Where the issuing chain goes; when absent the chain is appended to certFile. */
  chainFile?: string;
  reload?: ReloadHook;
}

/**
 * Azure Key Vault: the certificate is imported as a new version of `certificateName`; services
 * bound to its versionless id (App Service, Front Door, Application Gateway) pick it up.
 * Deployed by the Azure runtime (the Key Vault adapter).
 */
export interface KeyVaultTarget extends TargetPlacement {
  type: 'key-vault';
  vaultUrl: string;
  certificateName: string;
}

/**
 * A binding certops updates through Azure Resource Manager (App Service custom domain, Front
 * Door custom domain secret, Application Gateway listener certificate). Deployed by the Azure
 * runtime; `resourceId` is the binding's ARM id.
 */
export interface AzureBindingTarget extends TargetPlacement {
  type: 'app-service' | 'front-door' | 'application-gateway';
  resourceId: string;
}

/**
 * A Windows server reached through the MSP's RMM (NinjaOne, Datto RMM): a script run on the
 * device imports the PFX into LocalMachine\My and rebinds the IIS site.
 */
export interface RmmScriptTarget extends TargetPlacement {
  type: 'rmm-script';
  rmm: 'ninjaone' | 'datto-rmm';
  deviceId: string;
  /** The IIS site whose https bindings get the new certificate. */
  site: string;
}

export type DeploymentTarget = FilesTarget | KeyVaultTarget | AzureBindingTarget | RmmScriptTarget;
export type DeploymentTargetType = DeploymentTarget['type'];

export interface ManagedCertificateConfig {
  id: string;
  dnsNames: string[];
  ipAddresses?: string[];
  /** certops' own CA, or the tenant's ACME CA (`acme` settings of the tenant). */
  issuer: 'local-ca' | 'acme';
  keyType?: 'ec-p256' | 'rsa-2048';
  validityDays?: number;
  /** Where the certificate goes: one target, or several (`targets`) that rotate all or none. */
  target?: DeploymentTarget;
  targets?: DeploymentTarget[];
}

/**
 * Target types whose deployer proves a deployment by reading it back (the Key Vault version it
 * created holds the new certificate): a rotation can commit on that proof when no endpoint serves
 * the certificate. Every other target is proven only by a handshake with an endpoint.
 */
export const SELF_VERIFYING_TARGET_TYPES: readonly DeploymentTargetType[] = ['key-vault'];

/** The certificate's deployment targets in configuration order (the schema requires one of the two fields). */
export function deploymentTargets(managed: ManagedCertificateConfig): DeploymentTarget[] {
  return managed.targets ?? (managed.target ? [managed.target] : []);
}

/** The tenant's ACME CA (Let's Encrypt, ZeroSSL, Google Trust Services, or a lab CA such as Pebble). */
export interface AcmeSettings {
  directoryUrl: string;
  challenge: 'http-01' | 'dns-01';
  contactEmail?: string;
  /** External Account Binding (ZeroSSL, Google): the HMAC key is read from this environment variable. */
  eab?: { kid: string; hmacKeyEnv: string };
  /** PEM file of a CA to trust for the directory's own TLS (lab CAs only). */
  directoryCaFile?: string;
  /** The issuer name of the root the served chain should end under, when the CA offers several (RFC 8555 §7.4.2). */
  preferredChain?: string;
  /** The CA's certificate profile to order (e.g. Let's Encrypt's 'shortlived'); the CA must advertise it. */
  profile?: string;
  /**
   * http-01: either certops answers the CA on this local port (what port 80 of the names reaches),
   * or it writes the token under the deployment target's webroot, which the target's server serves.
   */
  http01?: { listenPort: number } | { webroot: string };
  /**
   * dns-01: the DNS provider holding `_acme-challenge` records (the lab provider for now) and,
   * when the client's zone delegates them, the MSP's zone: `_acme-challenge.<name>` CNAME
   * `<name>.<delegationZone>` (adapters/acme/delegating-dns-solver.ts). `resolver` (`ip:port`) is
   * the DNS server asked what the CA will see (default: this host's resolvers).
   */
  dns01?: { provider: 'pebble-challtestsrv'; managementUrl: string; delegationZone?: string; resolver?: string };
}

export interface TenantConfig {
  id: string;
  name?: string;
  /** The client's Microsoft Entra tenant (a GUID), for calls into it (Graph, its Azure resources). */
  entraTenantId?: string;
  assignee: Contact;
  escalation?: Contact;
  policy?: TenantPolicy;
  /** Extra trust anchors (PEM files) for this tenant's private PKI. */
  trustedCaFiles?: string[];
  acme?: AcmeSettings;
  endpoints: EndpointConfig[];
  managedCertificates?: ManagedCertificateConfig[];
}

export interface DiscoveryOptions {
  concurrency: number;
  connectTimeoutMs: number;
  handshakeTimeoutMs: number;
}

export interface NotificationOptions {
  console: boolean;
  outboxFile?: string;
  webhook?: { url: string; secretEnv: string };
  /** A Teams Workflows webhook ("When a Teams webhook request is received"); its URL is a secret, read from this variable. */
  teams?: { urlEnv: string };
  /** E-mail through Microsoft Graph sendMail, from this mailbox (the app needs Mail.Send). */
  email?: { sender: string; graphBaseUrl?: string };
  /** Public address of certops' API: the Review / Override / Escalate / Approve links point there. */
  actionsBaseUrl?: string;
  /** NCRONTAB of the daily digest (default 07:00 UTC). */
  digestSchedule?: string;
}

/** The HTTP API (humans review, override, escalate, approve). */
export interface ApiOptions {
  /** Port of the embedded server (`certops serve`); 0 = a free port. */
  port?: number;
  /** Entra ID tokens (the MSP's tenant, the API's app id URI), or tokens signed by the local key (`certops token`). */
  auth: { mode: 'local' } | { mode: 'entra'; tenantId: string; audience: string };
}

export interface CertopsConfig {
  dataDir: string;
  discovery: DiscoveryOptions;
  notifications: NotificationOptions;
  /** Static name → addresses map consulted before the system resolver (tests, demos, split DNS). */
  hosts?: Record<string, string[]>;
  sweepSchedule: string;
  api?: ApiOptions;
  tenants: TenantConfig[];
}
