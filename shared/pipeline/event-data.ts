/**
 * The data carried by each event type. Shapes here, schemas in event-schemas.ts; a test checks
 * that every type in the topology has a schema.
 */
import type { Finding } from '../domain/finding';
import type { ExpiryStatus } from '../domain/renewal';
import type { GateDecision } from '../domain/gate-policy';

export interface EndpointRef {
  endpointId: string;
  host: string;
  port: number;
  servername: string | null;
  managedCertificateId: string | null;
}

/** One tenant's sweep (the tenant is the envelope's `tenantid`). */
export interface SweepRequested {
  sweepId: string;
  reason: string;
}

export interface DiscoveryRequested {
  sweepId: string;
  endpoint: EndpointRef;
}

export interface AddressObservation {
  address: string;
  outcome: 'ok' | 'error';
  /** DER certificates, base64, leaf first, as presented. */
  chain: string[];
  protocol: string | null;
  error: { code: string; message: string } | null;
  durationMs: number;
}

export interface EndpointDiscovered {
  sweepId: string;
  endpoint: EndpointRef;
  observedAt: string;
  resolutionError: { code: string; message: string } | null;
  addresses: AddressObservation[];
}

export interface AddressAssessment {
  address: string;
  fingerprintSha256: string | null;
  status: ExpiryStatus | null;
  reason: string | null;
  notAfter: string | null;
  daysLeft: number | null;
  findings: Finding[];
}

export interface CertificateAnalyzed {
  sweepId: string;
  endpoint: EndpointRef;
  /** The worst status over the endpoint's addresses (null when nothing was served). */
  status: ExpiryStatus | null;
  addresses: AddressAssessment[];
  /** Endpoint-level findings (unresolvable name, addresses that disagree, shared certificate). */
  findings: Finding[];
  /** certops is renewing this endpoint's managed certificate: the outcome is what gets notified. */
  renewalRequested: boolean;
}

export interface RenewalRequested {
  sweepId: string;
  certificateId: string;
  endpointId: string;
  currentFingerprint: string | null;
  /**
   * When `currentFingerprint` was seen served (the observation the request rests on; an
   * operator's request: when it was made). A request outlives its observation (redelivered after
   * a crash, or from an overlapping sweep): rotate compares it with what certops has deployed since.
   */
  observedAt: string;
  notAfter: string | null;
  status: ExpiryStatus | null;
  reason: string;
  /** RFC 9773 CertID of the certificate being replaced, when its CA offers renewal information. */
  replaces: string | null;
}

export interface GatedRenewal extends RenewalRequested {
  decision: GateDecision;
}

export interface RotationCompleted {
  certificateId: string;
  decision: GateDecision;
  fromFingerprint: string | null;
  toFingerprint: string;
  notAfter: string;
  verified: Array<{ endpointId: string; address: string }>;
  reason: string;
}

export interface RotationFailed {
  certificateId: string;
  decision: GateDecision;
  fromFingerprint: string | null;
  attemptedFingerprint: string | null;
  reason: string;
  rolledBack: boolean;
  restoredVerified: boolean;
}
