/**
 * Certificate findings: what is wrong with the chain an endpoint serves, judged at a given time.
 * Observes the presented chain, the host it was served for and the trust anchors; decides which
 * finding codes apply. Expiry of the leaf is NOT a finding here: renewal checks own it.
 */
import type { Certificate } from './certificate';
import { type TrustAnchors, evaluateChain, isAnchor } from './chain';
import { type Finding, finding } from './finding';
import { matchesHostname } from './hostname';

export interface CertificateFindingsInput {
  /** As presented by the server, leaf first. */
  chain: Certificate[];
  /** The name the client asked for (SNI / URL host). */
  host: string;
  anchors: TrustAnchors;
  now: Date;
}

/** Minimum key sizes (CABF BR §6.1.5): RSA 2048 bits, ECDSA P-256; DSA is no longer accepted at all. */
const MIN_RSA_BITS = 2048;
const MIN_EC_BITS = 256;
/** Signature hashes with practical collision attacks (SHAttered 2017, MD5 2008 rogue CA). */
const BROKEN_HASHES = new Set(['SHA-1', 'MD5', 'MD2']);
/** A 1000-SAN certificate must not make a finding unreadable. */
const MAX_NAMES_IN_DETAIL = 20;

/**
 * Findings for one served chain: hostname-mismatch, self-signed (then not also chain-untrusted),
 * chain-incomplete, chain-untrusted, weak-key and sha1-signature (one per affected certificate),
 * expired-intermediate (one per presented non-leaf certificate past notAfter at `now`).
 * An empty chain yields no findings (the prober reports `no-certificate`).
 */
export function certificateFindings(input: CertificateFindingsInput): Finding[] {
  const { chain, host, anchors, now } = input;
  if (chain.length === 0) return [];
  const [leaf] = chain;
  const out: Finding[] = [];

  if (!matchesHostname(leaf, host)) {
    const names = leaf.dnsNames.length + leaf.ipAddresses.length > 0 ? [...leaf.dnsNames, ...leaf.ipAddresses] : leaf.commonName ? [leaf.commonName] : [];
    out.push(
      finding('hostname-mismatch', 'critical', `The certificate served for ${host} does not name it (it covers ${preview(names)}); issue a certificate that includes ${host}, or fix the SNI routing so this name gets its own certificate.`, {
        host,
        presentedNames: names.slice(0, MAX_NAMES_IN_DETAIL),
        presentedNameCount: names.length,
        commonName: leaf.commonName,
        fingerprintSha256: leaf.fingerprintSha256,
      }),
    );
  }

  const evaluation = evaluateChain(chain, anchors);
  if (leaf.selfSigned && !isAnchor(leaf, anchors)) {
    out.push(
      finding('self-signed', 'critical', `The certificate served for ${host} is self-signed ("${leaf.subject}"), so clients cannot trust it; replace it with one issued by a trusted CA, or add it to the trust anchors if it is deliberately private.`, {
        subject: leaf.subject,
        fingerprintSha256: leaf.fingerprintSha256,
      }),
    );
  } else if (!evaluation.complete) {
    const top = evaluation.path[evaluation.path.length - 1];
    out.push(
      finding('chain-incomplete', 'critical', `The server for ${host} does not send the issuer "${top.issuer}" of "${top.subject}", and it is not a trust anchor; configure the server to send the full chain (leaf and intermediates).`, {
        missingIssuer: top.issuer,
        lastSubject: top.subject,
        lastFingerprintSha256: top.fingerprintSha256,
        presented: chain.map((c) => c.fingerprintSha256),
      }),
    );
  } else if (!evaluation.trusted) {
    const root = evaluation.path[evaluation.path.length - 1];
    out.push(
      finding('chain-untrusted', 'critical', `The chain served for ${host} ends at "${root.subject}", which is not a trusted root; replace the certificate with one from a trusted CA, or add that root to the trust anchors if it is your private CA.`, {
        rootSubject: root.subject,
        rootFingerprintSha256: root.fingerprintSha256,
      }),
    );
  }

  chain.forEach((cert, i) => {
    const role = i === 0 ? 'the certificate' : `the chain certificate "${cert.subject}"`;
    const weak = weakness(cert);
    if (weak) {
      out.push(
        finding('weak-key', 'warning', `${capitalise(role)} served for ${host} has a weak key (${weak}); reissue it with RSA 2048+ or ECDSA P-256+.`, {
          position: i,
          subject: cert.subject,
          keyType: cert.keyType,
          keySize: cert.keySize,
          fingerprintSha256: cert.fingerprintSha256,
        }),
      );
    }
    // A root's self-signature is never checked by clients (they trust its key), so its hash does not matter.
    if (cert.signatureHash && BROKEN_HASHES.has(cert.signatureHash) && !cert.selfSigned) {
      out.push(
        finding('sha1-signature', 'warning', `${capitalise(role)} served for ${host} is signed with ${cert.signatureHash} (${cert.signatureAlgorithm}), which clients reject; reissue it with SHA-256 or better.`, {
          position: i,
          subject: cert.subject,
          signatureAlgorithm: cert.signatureAlgorithm,
          fingerprintSha256: cert.fingerprintSha256,
        }),
      );
    }
    if (i > 0 && cert.notAfter.getTime() < now.getTime()) {
      out.push(
        finding('expired-intermediate', 'critical', `The server for ${host} still sends "${cert.subject}", which expired on ${cert.notAfter.toISOString()}; replace it in the served chain with the CA's current intermediate.`, {
          position: i,
          subject: cert.subject,
          notAfter: cert.notAfter.toISOString(),
          fingerprintSha256: cert.fingerprintSha256,
        }),
      );
    }
  });
  return out;
}

/**
 * 'addresses-disagree' (warning) when the addresses of one name serve different certificates: a
 * node missed the last rotation, or a load balancer pool is mixed. Addresses that served nothing
 * (null) are listed in the detail but do not count as a disagreement.
 */
export function addressFindings(host: string, observations: Array<{ address: string; fingerprintSha256: string | null }>): Finding[] {
  const distinct = new Set(observations.flatMap((o) => (o.fingerprintSha256 ? [o.fingerprintSha256] : [])));
  if (distinct.size < 2) return [];
  const byAddress = Object.fromEntries(observations.map((o) => [o.address, o.fingerprintSha256]));
  return [
    finding('addresses-disagree', 'warning', `The ${observations.length} addresses of ${host} serve ${distinct.size} different certificates; deploy the same certificate to every address behind the name.`, {
      host,
      byAddress,
    }),
  ];
}

/**
 * 'shared-certificate' (info) when one certificate is served on two or more distinct endpoints:
 * they must be renewed and deployed together. Null for fewer than two endpoints.
 */
export function sharedCertificateFinding(fingerprintSha256: string, endpointIds: string[]): Finding | null {
  const endpoints = [...new Set(endpointIds)].sort();
  if (endpoints.length < 2) return null;
  return finding('shared-certificate', 'info', `The same certificate (${fingerprintSha256.slice(0, 16)}…) is served on ${endpoints.length} endpoints; rotate them together, deploying each renewal to all of them.`, {
    fingerprintSha256,
    endpointIds: endpoints,
  });
}

function weakness(cert: Certificate): string | null {
  if (cert.keyType === 'rsa' && cert.keySize < MIN_RSA_BITS) return `RSA ${cert.keySize} bits`;
  if (cert.keyType === 'ec' && cert.keySize < MIN_EC_BITS) return `EC ${cert.keySize} bits`;
  if (cert.keyType === 'dsa') return `DSA ${cert.keySize} bits`;
  return null;
}

function preview(names: string[]): string {
  if (names.length === 0) return 'no names at all';
  const shown = names.slice(0, 3).join(', ');
  return names.length > 3 ? `${shown} and ${names.length - 3} more` : shown;
}

function capitalise(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
