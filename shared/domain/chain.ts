/**
 * Chain building: from the certificates a server presented, walk leaf → issuer until a trust
 * anchor or a self-signed root, and say whether the path is complete and trusted.
 * Each step checks the issuer name AND the signature (OpenSSL X509_check_issued, then verify), so a
 * certificate that merely carries the right name never links. Dates are NOT judged here: expiry
 * is the renewal checks' concern, and an expired intermediate is its own finding.
 */
import { rootCertificates } from 'node:tls';
import { type Certificate, nameKey, nodeCertificate, parsePemBundle } from './certificate';

/** Certificates trusted as path ends, indexed by normalised subject (see `nameKey`). */
export interface TrustAnchors {
  readonly bySubject: ReadonlyMap<string, Certificate[]>;
  readonly size: number;
}

export interface ChainEvaluation {
  /** The path ends at a trust anchor. */
  trusted: boolean;
  /** The path reaches a self-signed certificate or a trust anchor. */
  complete: boolean;
  /** Leaf first; the anchor is included when one was reached (even if the server did not send it). */
  path: Certificate[];
  /** One sentence naming where the path ended and why. */
  reason: string;
}

/** Trust anchors from PEM texts; each text may hold several certificates. Duplicates are dropped. */
export function trustAnchorsFromPem(pems: string[]): TrustAnchors {
  return anchorsOf(pems.flatMap((pem) => parsePemBundle(pem)));
}

let systemAnchors: TrustAnchors | undefined;

/** node's bundled Mozilla root store (`tls.rootCertificates`), parsed once and cached. */
export function systemTrustAnchors(): TrustAnchors {
  systemAnchors ??= anchorsOf(rootCertificates.flatMap((pem) => parsePemBundle(pem)));
  return systemAnchors;
}

/** The union of several anchor sets. */
export function mergeTrustAnchors(...sets: TrustAnchors[]): TrustAnchors {
  return anchorsOf(sets.flatMap((set) => [...set.bySubject.values()].flat()));
}

/**
 * Builds the path from `presented[0]` (the leaf). The other presented certificates may come in any
 * order; an anchor that issued the current certificate is preferred over a presented one, so a
 * cross-signed intermediate still ends at the root the client trusts. Presented certificates that
 * are not on the path are ignored; each is used at most once (no cycles).
 */
export function evaluateChain(presented: Certificate[], anchors: TrustAnchors): ChainEvaluation {
  if (presented.length === 0) return { trusted: false, complete: false, path: [], reason: 'no certificate was presented' };
  const path = [presented[0]];
  const used = new Set([presented[0].fingerprintSha256]);
  for (;;) {
    const current = path[path.length - 1];
    if (isAnchor(current, anchors)) {
      return { trusted: true, complete: true, path, reason: `the path ends at the trust anchor "${current.subject}"` };
    }
    const anchor = (anchors.bySubject.get(nameKey(current.issuer)) ?? []).find((a) => issued(a, current));
    if (anchor) {
      path.push(anchor);
      return { trusted: true, complete: true, path, reason: `the path ends at the trust anchor "${anchor.subject}"` };
    }
    if (current.selfSigned) {
      return { trusted: false, complete: true, path, reason: `the path ends at the self-signed "${current.subject}", which is not a trust anchor` };
    }
    const next = presented.find((c) => !used.has(c.fingerprintSha256) && nameKey(c.subject) === nameKey(current.issuer) && issued(c, current));
    if (!next) {
      return {
        trusted: false,
        complete: false,
        path,
        reason: `the issuer "${current.issuer}" of "${current.subject}" was neither presented nor a trust anchor`,
      };
    }
    used.add(next.fingerprintSha256);
    path.push(next);
  }
}

/** True when `cert` itself (same DER) is one of the anchors. */
export function isAnchor(cert: Certificate, anchors: TrustAnchors): boolean {
  return (anchors.bySubject.get(nameKey(cert.subject)) ?? []).some((a) => a.fingerprintSha256 === cert.fingerprintSha256);
}

function issued(issuer: Certificate, child: Certificate): boolean {
  try {
    const parent = nodeCertificate(issuer);
    const x = nodeCertificate(child);
    return x.checkIssued(parent) && x.verify(parent.publicKey);
  } catch {
    return false; // a key or algorithm OpenSSL cannot use cannot vouch for anything
  }
}

function anchorsOf(certs: Certificate[]): TrustAnchors {
  const bySubject = new Map<string, Certificate[]>();
  const seen = new Set<string>();
  for (const cert of certs) {
    if (seen.has(cert.fingerprintSha256)) continue;
    seen.add(cert.fingerprintSha256);
    const key = nameKey(cert.subject);
    bySubject.set(key, [...(bySubject.get(key) ?? []), cert]);
  }
  return { bySubject, size: seen.size };
}
