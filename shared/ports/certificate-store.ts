/**
 * CertificateStore: the inventory and the state the pipeline keeps between events.
 * Every method takes the tenant: a record is always keyed and queried by tenant, and no method
 * reads across tenants except `listTenants` (an operator path for reports).
 *
 * Contract:
 * - `putObservations` is an upsert keyed by (tenantId, endpointId, address): idempotent.
 * - `putManagedState` is optimistic: it throws ConcurrencyError when `expectedVersion` does not
 *   match the stored version (0 = must not exist yet).
 * - `claim` is the idempotency primitive: true the first time a (tenantId, key) is claimed, false
 *   after; used by handlers so that a redelivered message never acts twice. `releaseClaim` undoes
 *   it when the guarded work failed and is to be retried (pipeline/claims.ts).
 * - Implementations MUST be safe for concurrent use.
 */
import type { Finding } from '../domain/finding';
import type { ExpiryStatus } from '../domain/renewal';

export class ConcurrencyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConcurrencyError';
  }
}

export interface CertificateSummary {
  fingerprintSha256: string;
  subject: string;
  commonName: string | null;
  dnsNames: string[];
  ipAddresses: string[];
  issuer: string;
  serialNumber: string;
  notBefore: string;
  notAfter: string;
  keyType: string;
  keySize: number;
  signatureAlgorithm: string;
  selfSigned: boolean;
  chainLength: number;
}

export interface ObservationRecord {
  tenantId: string;
  /** `host:port` plus `/sni` when the SNI differs from the host. */
  endpointId: string;
  host: string;
  port: number;
  servername: string | null;
  /** The resolved address, or '' when the name did not resolve. */
  address: string;
  sweepId: string;
  observedAt: string;
  outcome: 'ok' | 'error';
  certificate: CertificateSummary | null;
  status: ExpiryStatus | null;
  statusReason: string | null;
  renewAt: string | null;
  daysLeft: number | null;
  findings: Finding[];
  error: { code: string; message: string } | null;
  managedCertificateId: string | null;
}

export interface ManagedCertificateState {
  tenantId: string;
  certificateId: string;
  /** Fingerprint of the certificate certops last deployed (null before the first rotation). */
  deployedFingerprint: string | null;
  notAfter: string | null;
  lastRotation: {
    at: string;
    outcome: 'committed' | 'rolled-back' | 'failed';
    fromFingerprint: string | null;
    toFingerprint: string | null;
    reason: string;
  } | null;
  version: number;
}

export interface NotificationState {
  tenantId: string;
  subjectKey: string;
  stateHash: string;
  notifiedAt: string;
}

/** The last renewal window a CA suggested for a certificate (ACME ARI), to notice it moving. */
export interface RenewalWindowRecord {
  tenantId: string;
  /** RFC 9773 CertID. */
  certId: string;
  start: string;
  end: string;
  seenAt: string;
}

export interface CertificateStore {
  putObservations(tenantId: string, records: ObservationRecord[]): Promise<void>;
  listObservations(tenantId: string): Promise<ObservationRecord[]>;
  findObservationsByFingerprint(tenantId: string, fingerprintSha256: string): Promise<ObservationRecord[]>;
  listTenants(): Promise<string[]>;

  getManagedState(tenantId: string, certificateId: string): Promise<ManagedCertificateState | null>;
  putManagedState(state: ManagedCertificateState, expectedVersion: number): Promise<ManagedCertificateState>;

  getNotificationState(tenantId: string, subjectKey: string): Promise<NotificationState | null>;
  putNotificationState(state: NotificationState): Promise<void>;

  getRenewalWindow(tenantId: string, certId: string): Promise<RenewalWindowRecord | null>;
  /** Upsert keyed by (tenantId, certId). */
  putRenewalWindow(record: RenewalWindowRecord): Promise<void>;

  claim(tenantId: string, key: string): Promise<boolean>;
  /** Gives a claim back (the work it guarded failed and must be retried); a missing claim is fine. */
  releaseClaim(tenantId: string, key: string): Promise<void>;
}
