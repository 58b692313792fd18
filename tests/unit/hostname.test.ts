import * as fs from 'node:fs';
import { parseCertificate } from '../../shared/domain/certificate';
import { canonicalIp, formatIpAddress, matchesHostname } from '../../shared/domain/hostname';
import { referenceChain } from '../support/x509-builders';
import { fixturePath } from '../support/fixtures';

type Names = { dnsNames?: string[]; ipAddresses?: string[]; commonName?: string | null };
const names = (n: Names) => ({ dnsNames: n.dnsNames ?? [], ipAddresses: n.ipAddresses ?? [], commonName: n.commonName ?? null });

describe('matchesHostname (RFC 6125 §6.4)', () => {
  const cases: Array<{ name: string; cert: Names; host: string; matches: boolean }> = [
    { name: 'an exact SAN', cert: { dnsNames: ['www.example.com'] }, host: 'www.example.com', matches: true },
    { name: 'a SAN in another case', cert: { dnsNames: ['WWW.Example.COM'] }, host: 'www.EXAMPLE.com', matches: true },
    { name: 'a trailing dot on the host', cert: { dnsNames: ['www.example.com'] }, host: 'www.example.com.', matches: true },
    { name: 'a trailing dot on the SAN', cert: { dnsNames: ['www.example.com.'] }, host: 'www.example.com', matches: true },
    { name: 'a different name', cert: { dnsNames: ['www.example.com'] }, host: 'mail.example.com', matches: false },
    { name: 'a SAN that is only a suffix of the host', cert: { dnsNames: ['example.com'] }, host: 'www.example.com', matches: false },
    { name: 'a wildcard covering one label', cert: { dnsNames: ['*.example.com'] }, host: 'api.example.com', matches: true },
    { name: 'a wildcard and the bare domain', cert: { dnsNames: ['*.example.com'] }, host: 'example.com', matches: false },
    { name: 'a wildcard and two labels', cert: { dnsNames: ['*.example.com'] }, host: 'a.b.example.com', matches: false },
    { name: 'a wildcard directly under a TLD', cert: { dnsNames: ['*.com'] }, host: 'example.com', matches: false },
    { name: 'a partial-label wildcard', cert: { dnsNames: ['w*.example.com'] }, host: 'www.example.com', matches: false },
    { name: 'a wildcard that is not left-most', cert: { dnsNames: ['www.*.com'] }, host: 'www.example.com', matches: false },
    { name: 'a host that itself contains a wildcard', cert: { dnsNames: ['*.example.com'] }, host: '*.example.com', matches: false },
    { name: 'only a CN and no SANs', cert: { commonName: 'legacy.example.com' }, host: 'legacy.example.com', matches: true },
    { name: 'a matching CN but SANs that do not match', cert: { dnsNames: ['other.example.com'], commonName: 'www.example.com' }, host: 'www.example.com', matches: false },
    { name: 'a matching CN and only an IP SAN', cert: { ipAddresses: ['192.0.2.1'], commonName: 'www.example.com' }, host: 'www.example.com', matches: false },
    { name: 'nothing at all', cert: {}, host: 'www.example.com', matches: false },
    { name: 'an IPv4 SAN', cert: { ipAddresses: ['192.0.2.1'] }, host: '192.0.2.1', matches: true },
    { name: 'another IPv4 SAN', cert: { ipAddresses: ['192.0.2.1'] }, host: '192.0.2.2', matches: false },
    { name: 'an IPv4 written as a dNSName only', cert: { dnsNames: ['192.0.2.1'] }, host: '192.0.2.1', matches: false },
    { name: 'an IPv4 in the CN only', cert: { commonName: '192.0.2.1' }, host: '192.0.2.1', matches: false },
    { name: 'an IP host against a wildcard', cert: { dnsNames: ['*.0.2.1'] }, host: '192.0.2.1', matches: false },
    { name: 'an IPv6 SAN and an uncompressed host', cert: { ipAddresses: ['2001:db8::1'] }, host: '2001:DB8:0:0:0:0:0:1', matches: true },
    { name: 'an IPv6 SAN and a bracketed host', cert: { ipAddresses: ['::1'] }, host: '[::1]', matches: true },
    { name: 'an IPv6 SAN and another address', cert: { ipAddresses: ['2001:db8::1'] }, host: '2001:db8::2', matches: false },
  ];

  it.each(cases)('When the certificate has $name and the host is "$host", then it matches: $matches', ({ cert, host, matches }) => {
    expect(matchesHostname(names(cert), host)).toBe(matches);
  });
});

describe('matchesHostname on real certificates', () => {
  const cases = [
    { name: 'badssl wrong-host: *.badssl.com served on wrong.host.badssl.com', file: 'badssl/wildcard-rsa2048.pem', host: 'wrong.host.badssl.com', matches: false },
    { name: '*.badssl.com on a one-label subdomain', file: 'badssl/wildcard-rsa2048.pem', host: 'rsa2048.badssl.com', matches: true },
    { name: '*.badssl.com on the apex (a SAN of its own)', file: 'badssl/wildcard-rsa2048.pem', host: 'badssl.com', matches: true },
    { name: 'the IDN certificate on its punycode name', file: 'badssl/subdomain-xn--n1aae7f7o.pem', host: 'xn--n1aae7f7o.badssl.com', matches: true },
    { name: 'the IDN certificate on its Unicode name (callers must convert to A-labels)', file: 'badssl/subdomain-xn--n1aae7f7o.pem', host: 'ѕрооғ.badssl.com', matches: false },
    { name: 'the no-common-name certificate on its SAN', file: 'badssl/subdomain-no-common-name.pem', host: 'no-common-name.badssl.com', matches: true },
    { name: 'the empty-subject certificate on its SAN', file: 'badssl/subdomain-no-subject.pem', host: 'no-subject.badssl.com', matches: true },
    { name: 'the 1000-SAN certificate on its last SAN', file: 'badssl/subdomain-1000-sans.pem', host: 'wowmoarsans1000.badssl.com', matches: true },
    { name: 'the 1000-SAN certificate on a name past its list', file: 'badssl/subdomain-1000-sans.pem', host: 'wowmoarsans1001.badssl.com', matches: false },
  ];

  it.each(cases)('When checking $name, then it matches: $matches', ({ file, host, matches }) => {
    const [leaf] = referenceChain(file);
    expect(matchesHostname(leaf, host)).toBe(matches);
  });
});

describe('matchesHostname against x509-limbo', () => {
  interface LimboCase {
    id: string;
    peer_certificate: string;
    expected_result: 'SUCCESS' | 'FAILURE';
    expected_peer_name: { kind: string; value: string } | null;
  }
  const limbo = JSON.parse(
    fs.readFileSync(fixturePath('x509', 'x509-limbo', 'limbo.2023-12-02.json'), 'utf8'),
  ) as { testcases: LimboCase[] };
  // Testcases whose verdict is decided by the name alone: the webpki SAN and wildcard rules, the
  // real-world chains (valid for their name), and the IP-SAN successes (a match is necessary there).
  // Left out: webpki::san::no-san (fails for lacking a SAN, a CABF rule, although its CN matches) and
  // san-critical-with-nonempty-subject (fails for the criticality flag).
  const ids = [
    'webpki::san::exact-san',
    'webpki::san::mismatch-domain-san',
    'webpki::san::mismatch-subdomain-san',
    'webpki::san::mismatch-subdomain-apex-san',
    'webpki::san::mismatch-apex-subdomain-san',
    'webpki::san::public-suffix-wildcard-san',
    'webpki::san::leftmost-wildcard-san',
    'webpki::san::wildcard-embedded-leftmost-san',
    'webpki::san::wildcard-not-in-leftmost-san',
    'webpki::san::wildcard-match-across-labels-san',
    'webpki::san::wildcard-embedded-ulabel-san',
    'webpki::san::unicode-emoji-san',
    'rfc5280::nc::permitted-ipv4-match',
    'rfc5280::nc::permitted-ipv6-match',
    ...limbo.testcases.filter((t) => t.id.startsWith('online::')).map((t) => t.id),
  ];
  const selected = ids.map((id) => {
    const t = limbo.testcases.find((c) => c.id === id);
    if (!t || !t.expected_peer_name) throw new Error(`limbo testcase ${id} is missing`);
    return { id, host: t.expected_peer_name.value, matches: t.expected_result === 'SUCCESS', pem: t.peer_certificate };
  });

  it('When the limbo selection is built, then it holds the 14 named cases and the 14 online chains', () => {
    expect(selected).toHaveLength(28);
  });

  it.each(selected)('When limbo $id is checked against "$host", then it matches: $matches', ({ pem, host, matches }) => {
    expect(matchesHostname(parseCertificate(pem), host)).toBe(matches);
  });
});

describe('IP address text', () => {
  it.each([
    { name: 'an uncompressed IPv6', text: '2001:0db8:0000:0000:0000:0000:0000:0001', canonical: '2001:db8::1' },
    { name: 'the longest zero run compressed, the first on a tie', text: '2001:db8:0:0:1:0:0:1', canonical: '2001:db8::1:0:0:1' },
    { name: 'a single zero group left alone (RFC 5952 §4.2.2)', text: '2001:db8:0:1:1:1:1:1', canonical: '2001:db8:0:1:1:1:1:1' },
    { name: 'the unspecified address', text: '0:0:0:0:0:0:0:0', canonical: '::' },
    { name: 'an IPv4-mapped address', text: '::ffff:192.0.2.1', canonical: '::ffff:192.0.2.1' },
    { name: 'a link-local address with a zone', text: 'fe80::1%eth0', canonical: 'fe80::1' },
    { name: 'an IPv4 address', text: '192.0.2.1', canonical: '192.0.2.1' },
    { name: 'a DNS name', text: 'example.com', canonical: null },
  ])('When the text is $name, then its canonical form is $canonical', ({ text, canonical }) => {
    expect(canonicalIp(text)).toBe(canonical);
  });

  it('When SAN octets are neither 4 nor 16 bytes long, then they have no textual form', () => {
    expect(formatIpAddress(new Uint8Array(8))).toBeNull();
  });
});
