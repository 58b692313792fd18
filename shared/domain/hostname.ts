/**
 * Hostname verification: does a certificate name the host a client asked for (RFC 6125 §6.4,
 * with the CA/Browser Forum wildcard rules that every browser applies)?
 * Also the textual form of IP addresses, so that SAN iPAddress bytes and a host compare equal.
 */
import { isIP } from 'node:net';
import type { Certificate } from './certificate';

/**
 * True when the certificate names `host`.
 * - RFC 6125 §6.4.4: the subject CN is consulted only when the certificate has no SAN at all.
 * - DNS names compare case-insensitively (ASCII; IDNs are compared as their A-labels); a trailing
 *   dot on either side is ignored.
 * - RFC 6125 §6.4.3 / CABF BR 3.2.2.6: a wildcard is only the whole left-most label, matches exactly
 *   one non-empty label, and needs at least two labels after it (`*.com` matches nothing).
 * - An IP host (IPv4, or IPv6 with or without brackets) matches iPAddress SANs only, never a
 *   wildcard or a CN; IPv6 is compared in its normalised form.
 */
export function matchesHostname(cert: Pick<Certificate, 'dnsNames' | 'ipAddresses' | 'commonName'>, host: string): boolean {
  const ip = canonicalIp(host);
  if (ip) return cert.ipAddresses.some((a) => canonicalIp(a) === ip);
  const wanted = normaliseDnsName(host);
  if (!wanted || wanted.includes('*')) return false;
  const hasSan = cert.dnsNames.length > 0 || cert.ipAddresses.length > 0;
  const presented = hasSan ? cert.dnsNames : cert.commonName ? [cert.commonName] : [];
  return presented.some((pattern) => matchesPattern(pattern, wanted));
}

function matchesPattern(pattern: string, host: string): boolean {
  const p = normaliseDnsName(pattern);
  if (!p || !/^[\x21-\x7e]+$/.test(p)) return false; // a dNSName is IA5 (RFC 5280 §4.2.1.6); raw Unicode never matches
  if (!p.includes('*')) return p === host;
  if (!p.startsWith('*.')) return false; // partial (`ba*.`) or non-left-most wildcards are not honoured
  const rest = p.slice(2);
  if (rest.includes('*') || rest.split('.').filter(Boolean).length < 2) return false;
  const dot = host.indexOf('.');
  return dot > 0 && host.slice(dot + 1) === rest;
}

function normaliseDnsName(name: string): string {
  return name.trim().toLowerCase().replace(/\.$/, '');
}

/** The canonical text of an IP address (IPv4 dotted, IPv6 RFC 5952), or null when `text` is not one. */
export function canonicalIp(text: string): string | null {
  const bare = text.trim().replace(/^\[(.*)\]$/, '$1').replace(/%.*$/, ''); // brackets (RFC 3986), zone id (RFC 6874)
  const version = isIP(bare);
  if (version === 4) return bare;
  if (version === 6) return formatIpAddress(ipv6Bytes(bare));
  return null;
}

/** SAN iPAddress octets (RFC 5280 §4.2.1.6) as text; null for lengths other than 4 or 16. */
export function formatIpAddress(bytes: Uint8Array): string | null {
  if (bytes.length === 4) return Array.from(bytes).join('.');
  if (bytes.length !== 16) return null;
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes[i] * 256 + bytes[i + 1]);
  // RFC 5952 §5: IPv4-mapped addresses keep the dotted tail.
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${Array.from(bytes.subarray(12)).join('.')}`;
  }
  // RFC 5952 §4.2: compress the longest run (first on a tie) of two or more zero groups.
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

/** Parses IPv6 text that `isIP` accepted (may contain `::` and a dotted IPv4 tail). */
function ipv6Bytes(text: string): Uint8Array {
  const toGroups = (part: string): number[] =>
    part === ''
      ? []
      : part.split(':').flatMap((g) => {
          if (!g.includes('.')) return [parseInt(g, 16)];
          const [a, b, c, d] = g.split('.').map(Number);
          return [a * 256 + b, c * 256 + d];
        });
  const [head, tail] = text.split('::');
  const h = toGroups(head);
  const t = tail === undefined ? [] : toGroups(tail);
  const groups = [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
  const bytes = new Uint8Array(16);
  groups.forEach((g, i) => {
    bytes[i * 2] = g >> 8;
    bytes[i * 2 + 1] = g & 0xff;
  });
  return bytes;
}
