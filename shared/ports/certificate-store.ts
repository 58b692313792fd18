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
import type { GateDecision } from '../domain/gate-policy';
import type { ExpiryStatus } from '../domain/renewal';
import type { RotationState } from '../domain/rotation';
import type { DeploymentReceipt } from './deployer';

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
  /** The current or last rotation, persisted at every transition (pipeline/rotation-engine.ts). */
  rotation?: RotationRecord | null;
  /** Ids of the last finished rotations, newest last: a late duplicate of their request is a no-op. */
  recentRotationIds?: string[];
  /**
   * When certops put `deployedFingerprint` in place (a committed rotation, or an override that
   * restored the previous certificate): a request resting on an observation made before it, of
   * another certificate, is stale and skipped.
   */
  deployedAt?: string | null;
  version: number;
}

/**
 * One rotation as persisted. Holds no secret: the new private key waits in the KeyStore under
 * `issued.keyName` until commit or rollback, and the deployers' receipts point at backup files
 * (or previous Key Vault versions), never at key material.
 */
export interface RotationRecord {
  /** The idempotency key: `<sweepId>:<certificateId>`; one request, at most one rotation. */
  rotationId: string;
  state: RotationState;
  reason: string;
  /** When the certificate being replaced was seen served (the request's observation). */
  observedAt: string;
  decision: GateDecision;
  /** The certificate being replaced (null when nothing was served), and its CertID for ARI. */
  fromFingerprint: string | null;
  fromNotAfter: string | null;
  replaces: string | null;
  issued: {
    fingerprint: string;
    notBefore: string;
    notAfter: string;
    certificatePem: string;
    chainPem: string;
    /** KeyStore name of the new key while the rotation is open. */
    keyName: string;
    issuer: string;
    provenance: { ca: string; challenge: string | null; durationMs: number } | null;
  } | null;
  /** Targets deployed so far (index into the certificate's targets), each with its receipt. */
  deployments: Array<{ target: number; receipt: DeploymentReceipt }>;
  verified: Array<{ endpointId: string; address: string }>;
  failure: { step: 'issue' | 'deploy' | 'verify' | 'override'; reason: string } | null;
  /** Set by the rollback: every deployed target restored, and the old certificate seen served again. */
  restored: boolean | null;
  restoredVerified: boolean | null;
  /** Each transition, with where the tenant's audit chain stood when it was saved (its record comes after). */
  history: Array<{ state: RotationState; at: string; auditFrom?: number }>;
  /** Who drives the rotation now, until when (wall-clock ms): a crashed owner's lease runs out. */
  lease: { owner: string; until: number } | null;
  /** Targets whose deployer read the new certificate back (Key Vault): proof without a handshake. */
  readBack?: number[];
  /**
   * The certificate being replaced, when certops issued it (its PEM and issuer): what a key
   * compromise revokes.
   */
  replacing?: { certificatePem: string; issuer: string } | null;
  /**
   * When what the deployers kept for rollback (the previous key above all) was deleted, and why:
   * the rollback window ended, the replaced key was compromised, or a later rotation superseded
   * this one. After it, the rotation can no longer be undone.
   */
  retired?: { at: string; why: RetirementReason } | null;
  /** Key compromise: what the CA said when asked to revoke the replaced certificate. */
  revocation?: { at: string; outcome: 'revoked' | 'not-ours' | 'not-issued-by-certops' | 'issuer-cannot-revoke' | 'refused'; detail?: string } | null;
}

export type RetirementReason = 'window-ended' | 'key-compromise' | 'superseded';

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
