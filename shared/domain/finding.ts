/**
 * A finding is something about an endpoint or certificate that a human should know, with a stable
 * code (for routing, suppression and reports), a severity and a sentence that says what to do.
 */
export const FINDING_CODES = [
  // certificate content
  'hostname-mismatch',
  'self-signed',
  'chain-incomplete',
  'chain-untrusted',
  'weak-key',
  'sha1-signature',
  'expired-intermediate',
  'malformed-certificate',
  // across endpoints and addresses
  'addresses-disagree',
  'shared-certificate',
  // reachability
  'name-resolution-failed',
  'connection-refused',
  'endpoint-unreachable',
  'address-unroutable', // info: certops' host has no route to one address; the others were checked
  'handshake-failed',
  'handshake-timeout',
  'no-certificate',
  // ACME DNS-01 readiness of a client domain (domain/dns01-readiness.ts)
  'dns01-unavailable',
  'dns01-delegation-broken',
  // the issuing CA's renewal information (ACME ARI, RFC 9773)
  'ari-window-moved-earlier',
] as const;

export type FindingCode = (typeof FINDING_CODES)[number];
export type Severity = 'info' | 'warning' | 'critical';

export interface Finding {
  code: FindingCode;
  severity: Severity;
  /** One sentence: what is wrong and what to do next. */
  message: string;
  /** Machine-readable evidence (names, fingerprints, addresses). Never secrets. */
  detail?: Record<string, unknown>;
}

export function finding(
  code: FindingCode,
  severity: Severity,
  message: string,
  detail?: Record<string, unknown>,
): Finding {
  return detail ? { code, severity, message, detail } : { code, severity, message };
}
