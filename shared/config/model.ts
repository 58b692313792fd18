/**
 * The configuration model: tenants, their endpoints, the certificates certops manages for them,
 * the assigned human and policy overrides. Validated by config-schema.ts; loaded by load-config.ts.
 */
import type { GateLevel, ActionType } from '../domain/gate-policy';

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
}

export interface FilesTarget {
  type: 'files';
  certFile: string;
  keyFile: string;
  /** Where the issuing chain goes; when absent the chain is appended to certFile. */
  chainFile?: string;
  reload?: ReloadHook;
}

export type DeploymentTarget = FilesTarget;

export interface ManagedCertificateConfig {
  id: string;
  dnsNames: string[];
  ipAddresses?: string[];
  /** certops' own CA, or the tenant's ACME CA (`acme` settings of the tenant). */
  issuer: 'local-ca' | 'acme';
  keyType?: 'ec-p256' | 'rsa-2048';
  validityDays?: number;
  target: DeploymentTarget;
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
}

export interface CertopsConfig {
  dataDir: string;
  discovery: DiscoveryOptions;
  notifications: NotificationOptions;
  /** Static name → addresses map consulted before the system resolver (tests, demos, split DNS). */
  hosts?: Record<string, string[]>;
  sweepSchedule: string;
  tenants: TenantConfig[];
}
