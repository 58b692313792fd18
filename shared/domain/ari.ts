/**
 * ACME Renewal Information (RFC 9773): how a CA says when to renew. Pure parts here: the CertID
 * that names a certificate to the CA, the suggested window, and the moment to renew inside it.
 * (The fetch, `replaces`, and the retry without it belong to the ACME issuer; Debian's Pebble 2.4
 * has no renewalInfo endpoint to prove them against.)
 */
import { AsnConvert } from '@peculiar/asn1-schema';
import { AuthorityKeyIdentifier, Certificate as AsnCertificate, id_ce_authorityKeyIdentifier } from '@peculiar/asn1-x509';
import { createHash } from 'node:crypto';
import { PermanentError } from './errors';

/**
 * RFC 9773 §4.1: base64url (no padding) of the AKI keyIdentifier, '.', base64url of the DER
 * serialNumber's content octets (with their leading zero, when the encoding has one).
 */
export function ariCertId(certificateDer: Buffer): string {
  const cert = AsnConvert.parse(certificateDer, AsnCertificate);
  const aki = cert.tbsCertificate.extensions?.find((e) => e.extnID === id_ce_authorityKeyIdentifier);
  const keyIdentifier = aki ? AsnConvert.parse(aki.extnValue, AuthorityKeyIdentifier).keyIdentifier : undefined;
  if (!keyIdentifier) {
    throw new PermanentError('the certificate has no Authority Key Identifier with a keyIdentifier, so ACME renewal information cannot name it (RFC 9773 §4.1)');
  }
  return `${base64url(Buffer.from(keyIdentifier.buffer))}.${base64url(Buffer.from(cert.tbsCertificate.serialNumber))}`;
}

export interface RenewalWindow {
  start: Date;
  end: Date;
}

/** RFC 9773 §4.2: a renewalInfo response body; throws when the window is missing or inverted. */
export function parseRenewalInfo(body: unknown): { window: RenewalWindow; explanationUrl: string | null } {
  const w = (body as { suggestedWindow?: { start?: unknown; end?: unknown } } | null)?.suggestedWindow;
  const start = typeof w?.start === 'string' ? new Date(w.start) : null;
  const end = typeof w?.end === 'string' ? new Date(w.end) : null;
  if (!start || !end || Number.isNaN(start.getTime()) || Number.isNaN(end.getTime()) || end <= start) {
    throw new PermanentError('the CA sent renewal information without a valid suggestedWindow (start before end); ignoring it');
  }
  const url = (body as { explanationURL?: unknown }).explanationURL;
  return { window: { start, end }, explanationUrl: typeof url === 'string' ? url : null };
}

/**
 * When to renew (RFC 9773 §4.2): a uniformly random moment in the window, so a fleet does not
 * renew in step; if the window has begun, a random moment between now and its end; if it has
 * ended (the CA's signal that the certificate is being revoked), now.
 */
export function renewalMoment(window: RenewalWindow, now: Date, random: () => number = Math.random): { at: Date; reason: 'InWindow' | 'WindowOpen' | 'WindowPassed' } {
  if (window.end <= now) return { at: now, reason: 'WindowPassed' };
  const from = Math.max(window.start.getTime(), now.getTime());
  const at = new Date(from + Math.floor(random() * (window.end.getTime() - from)));
  return { at, reason: window.start <= now ? 'WindowOpen' : 'InWindow' };
}

/**
 * The moment for one certificate, random across a fleet but the same at every sweep: the
 * "random" fraction comes from the CertID, so a sweep that runs daily does not draw a new moment
 * each time (which would pull renewals towards the start of the window).
 */
export function stableRenewalMoment(window: RenewalWindow, certId: string, now: Date): ReturnType<typeof renewalMoment> {
  const fraction = createHash('sha256').update(`${certId}|${window.start.toISOString()}`).digest().readUInt32BE(0) / 2 ** 32;
  return renewalMoment(window, now, () => fraction);
}

/** The CA moved the window earlier than it was: for certificates certops watches, a finding. */
export function windowMovedEarlier(previous: RenewalWindow, current: RenewalWindow): boolean {
  return current.start < previous.start || current.end < previous.end;
}

function base64url(bytes: Buffer): string {
  return bytes.toString('base64url');
}
