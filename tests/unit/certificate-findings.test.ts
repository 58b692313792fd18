import type { Certificate } from '../../shared/domain/certificate';
import { addressFindings, certificateFindings, sharedCertificateFinding } from '../../shared/domain/certificate-findings';
import { type TrustAnchors, systemTrustAnchors, trustAnchorsFromPem } from '../../shared/domain/chain';
import type { Finding, FindingCode, Severity } from '../../shared/domain/finding';
import { TEST_NOW, aCA, aCertificate, aPrivateChain, referenceChain } from '../support/x509-builders';

const codes = (findings: Finding[]) => findings.map((f) => f.code).sort();
const NO_ANCHORS = trustAnchorsFromPem([]);

describe('certificateFindings on real chains with the system anchors', () => {
  const cases: Array<{ name: string; chain: () => Certificate[]; host: string; now: string; expected: FindingCode[] }> = [
    { name: 'a healthy public RSA-2048 chain on its own name', chain: () => referenceChain('badssl/wildcard-rsa2048.pem'), host: 'rsa2048.badssl.com', now: '2021-06-01', expected: [] },
    { name: 'badssl wrong-host: *.badssl.com on wrong.host.badssl.com', chain: () => referenceChain('badssl/wildcard-rsa2048.pem'), host: 'wrong.host.badssl.com', now: '2021-06-01', expected: ['hostname-mismatch'] },
    { name: 'a self-signed leaf (self-signed only, not also chain-untrusted)', chain: () => referenceChain('badssl/wildcard-self-signed.pem'), host: 'self-signed.badssl.com', now: '2018-01-01', expected: ['self-signed'] },
    { name: 'a leaf without its intermediate', chain: () => referenceChain('badssl/wildcard-incomplete-chain.pem'), host: 'incomplete-chain.badssl.com', now: '2021-06-01', expected: ['chain-incomplete'] },
    { name: 'a Superfish leaf served with its RSA-1024 root', chain: () => [...referenceChain('badssl/subdomain-superfish.pem'), ...referenceChain('badssl/ca-superfish.crt')], host: 'superfish.badssl.com', now: '2019-06-01', expected: ['chain-untrusted', 'weak-key'] },
    { name: 'a Superfish leaf alone', chain: () => referenceChain('badssl/subdomain-superfish.pem'), host: 'superfish.badssl.com', now: '2019-06-01', expected: ['chain-incomplete'] },
    // AddTrust External CA Root expired in 2020 and is no longer in node's root store.
    { name: 'a SHA-1 leaf under a SHA-1 intermediate', chain: () => referenceChain('badssl/wildcard-sha1-2016.pem'), host: 'sha1-2016.badssl.com', now: '2016-06-01', expected: ['chain-incomplete', 'sha1-signature', 'sha1-signature'] },
    { name: 'a SHA-1 intermediate', chain: () => referenceChain('badssl/wildcard-sha1-intermediate.pem'), host: 'sha1-intermediate.badssl.com', now: '2019-06-01', expected: ['chain-incomplete', 'sha1-signature'] },
    { name: 'an AddTrust cross-sign served after it expired', chain: () => referenceChain('badssl/wildcard-expired.pem'), host: 'expired.badssl.com', now: '2024-01-01', expected: ['expired-intermediate'] },
    { name: 'an RSA-8192 chain', chain: () => referenceChain('badssl/wildcard-rsa8192.pem'), host: 'rsa8192.badssl.com', now: '2022-06-01', expected: [] },
    { name: 'an ECDSA P-256 chain', chain: () => referenceChain('badssl/wildcard-ecc256.pem'), host: 'ecc256.badssl.com', now: '2021-06-01', expected: [] },
    { name: 'an ECDSA P-384 chain', chain: () => referenceChain('badssl/wildcard-ecc384.pem'), host: 'ecc384.badssl.com', now: '2021-06-01', expected: [] },
    { name: 'the IDN chain on its punycode name', chain: () => referenceChain('badssl/subdomain-xn--n1aae7f7o.pem'), host: 'xn--n1aae7f7o.badssl.com', now: '2020-01-01', expected: [] },
    { name: 'the 1000-SAN chain on its 500th name', chain: () => referenceChain('badssl/subdomain-1000-sans.pem'), host: 'wowmoarsans500.badssl.com', now: '2020-01-01', expected: [] },
    { name: 'the Chromium RSA-1024 client certificate (CN only, not a DNS name) without its issuer', chain: () => referenceChain('chromium/client_rsa1024.pem'), host: 'client.example.test', now: '2027-01-01', expected: ['chain-incomplete', 'hostname-mismatch', 'weak-key'] },
  ];

  it.each(cases)('When the server presents $name, then the findings are $expected', ({ chain, host, now, expected }) => {
    expect(codes(certificateFindings({ chain: chain(), host, anchors: systemTrustAnchors(), now: new Date(now) }))).toEqual([...expected].sort());
  });

  it('When the host does not match, then the finding carries the presented names, capped, and the fingerprint', () => {
    const chain = referenceChain('badssl/subdomain-1000-sans.pem');
    const [f] = certificateFindings({ chain, host: 'other.badssl.com', anchors: systemTrustAnchors(), now: new Date('2020-01-01') });
    expect(f.detail).toMatchObject({ host: 'other.badssl.com', presentedNameCount: 1000, fingerprintSha256: chain[0].fingerprintSha256 });
    expect((f.detail!.presentedNames as string[]).length).toBe(20);
    expect(f.message).toMatch(/other\.badssl\.com.*and 997 more.*issue a certificate that includes/);
  });

  it('When the SHA-1 findings are raised, then each names the position and algorithm of its certificate', () => {
    const findings = certificateFindings({ chain: referenceChain('badssl/wildcard-sha1-2016.pem'), host: 'sha1-2016.badssl.com', anchors: systemTrustAnchors(), now: new Date('2016-06-01') });
    expect(findings.filter((f) => f.code === 'sha1-signature').map((f) => f.detail)).toEqual([
      expect.objectContaining({ position: 0, signatureAlgorithm: 'sha1WithRSAEncryption' }),
      expect.objectContaining({ position: 1, signatureAlgorithm: 'sha1WithRSAEncryption' }),
    ]);
  });
});

describe('certificateFindings on generated chains', () => {
  let privateRootAnchors: TrustAnchors;
  let chain: Awaited<ReturnType<typeof aPrivateChain>>;
  beforeAll(async () => {
    chain = await aPrivateChain();
    privateRootAnchors = trustAnchorsFromPem([chain.root.pem]);
  });
  const findingsFor = (presented: Certificate[], anchors: TrustAnchors, host = 'www.example.test') =>
    certificateFindings({ chain: presented, host, anchors, now: TEST_NOW });

  it('When a private chain is trusted via its root as an anchor, then there are no findings', () => {
    expect(findingsFor([chain.leaf.certificate, chain.intermediate.certificate], privateRootAnchors)).toEqual([]);
  });

  it('When the private root is not an anchor and not presented, then the chain is incomplete', () => {
    expect(codes(findingsFor([chain.leaf.certificate, chain.intermediate.certificate], NO_ANCHORS))).toEqual(['chain-incomplete']);
  });

  it('When the private root is presented but not an anchor, then the chain is untrusted and the root is named', () => {
    const [f] = findingsFor([chain.leaf.certificate, chain.intermediate.certificate, chain.root.certificate], NO_ANCHORS);
    expect(f).toMatchObject({ code: 'chain-untrusted', detail: { rootFingerprintSha256: chain.root.certificate.fingerprintSha256 } });
  });

  it('When a presented intermediate is past notAfter, then expired-intermediate names it with its date', async () => {
    const root = await aCA();
    const expired = await aCA({ issuer: root, daysLeft: -1 });
    const leaf = await aCertificate({ issuer: expired });
    const findings = findingsFor([leaf.certificate, expired.certificate], trustAnchorsFromPem([root.pem]));
    expect(findings).toEqual([
      expect.objectContaining({ code: 'expired-intermediate', severity: 'critical', detail: expect.objectContaining({ notAfter: expired.certificate.notAfter.toISOString(), fingerprintSha256: expired.certificate.fingerprintSha256 }) }),
    ]);
  });

  it('When the leaf itself is expired, then it is not an expired-intermediate (renewal checks own leaf expiry)', async () => {
    const root = await aCA();
    const leaf = await aCertificate({ issuer: root, daysLeft: -5 });
    expect(findingsFor([leaf.certificate], trustAnchorsFromPem([root.pem]))).toEqual([]);
  });

  it.each([
    { name: 'an RSA-1024 leaf', keySpec: 'rsa-1024' as const, weak: true },
    { name: 'an RSA-2048 leaf', keySpec: 'rsa-2048' as const, weak: false },
    { name: 'an ECDSA P-256 leaf', keySpec: 'ec-p256' as const, weak: false },
  ])('When the server presents $name, then weak-key is raised: $weak', async ({ keySpec, weak }) => {
    const root = await aCA();
    const leaf = await aCertificate({ issuer: root, keySpec });
    const found = codes(findingsFor([leaf.certificate], trustAnchorsFromPem([root.pem])));
    expect(found).toEqual(weak ? ['weak-key'] : []);
  });

  it('When an intermediate has an RSA-1024 key, then weak-key names the intermediate', async () => {
    const root = await aCA();
    const intermediate = await aCA({ issuer: root, keySpec: 'rsa-1024' });
    const leaf = await aCertificate({ issuer: intermediate });
    const [f] = findingsFor([leaf.certificate, intermediate.certificate], trustAnchorsFromPem([root.pem]));
    expect(f).toMatchObject({ code: 'weak-key', detail: { position: 1, keySize: 1024 } });
  });

  it.each([
    { name: 'a leaf signed with SHA-1 by an RSA CA', leafHash: 'SHA-1' as const, rootHash: 'SHA-256' as const, expected: ['sha1-signature'] },
    { name: 'a root whose own self-signature is SHA-1 (clients never check it)', leafHash: 'SHA-256' as const, rootHash: 'SHA-1' as const, expected: [] },
  ])('When the chain has $name, then the findings are $expected', async ({ leafHash, rootHash, expected }) => {
    const root = await aCA({ keySpec: 'rsa-2048', hash: rootHash });
    const leaf = await aCertificate({ issuer: root, hash: leafHash });
    expect(codes(findingsFor([leaf.certificate, root.certificate], trustAnchorsFromPem([root.pem])))).toEqual(expected);
  });

  it('When a private self-signed leaf is pinned as an anchor, then it is not reported as self-signed', async () => {
    const pinned = await aCertificate({ selfSigned: true });
    expect(findingsFor([pinned.certificate], trustAnchorsFromPem([pinned.pem]))).toEqual([]);
    expect(codes(findingsFor([pinned.certificate], NO_ANCHORS))).toEqual(['self-signed']);
  });

  it('When an IP address is the host, then only an iPAddress SAN satisfies it', async () => {
    const leaf = await aCertificate({ issuer: chain.intermediate, dnsNames: ['www.example.test'], ipAddresses: ['192.0.2.10'] });
    const presented = [leaf.certificate, chain.intermediate.certificate];
    expect(findingsFor(presented, privateRootAnchors, '192.0.2.10')).toEqual([]);
    expect(codes(findingsFor(presented, privateRootAnchors, '192.0.2.11'))).toEqual(['hostname-mismatch']);
  });

  it('When nothing is presented, then there are no certificate findings (no-certificate belongs to the prober)', () => {
    expect(findingsFor([], privateRootAnchors)).toEqual([]);
  });

  const severities: Array<[FindingCode, Severity]> = [
    ['hostname-mismatch', 'critical'], ['self-signed', 'critical'], ['chain-incomplete', 'critical'], ['chain-untrusted', 'critical'],
    ['expired-intermediate', 'critical'], ['weak-key', 'warning'], ['sha1-signature', 'warning'],
  ];
  it('When findings of every kind are raised, then each has its documented severity and a message that says what to do', async () => {
    const root = await aCA({ keySpec: 'rsa-1024' });
    const expired = await aCA({ issuer: root, daysLeft: -1 });
    const leaf = await aCertificate({ issuer: expired, hash: 'SHA-1', keySpec: 'rsa-1024' });
    const selfSigned = await aCertificate({ selfSigned: true });
    const all = [
      ...findingsFor([leaf.certificate, expired.certificate, root.certificate], NO_ANCHORS, 'other.example.test'),
      ...findingsFor([leaf.certificate], NO_ANCHORS),
      ...findingsFor([selfSigned.certificate], NO_ANCHORS),
    ];
    expect(new Set(all.map((f) => f.code))).toEqual(new Set(severities.map(([c]) => c)));
    for (const f of all) {
      expect([f.code, f.severity]).toEqual([f.code, Object.fromEntries(severities)[f.code]]);
      expect(f.message).toMatch(/;.*\b(issue|reissue|replace|configure|add|fix)\b/);
    }
  });
});

describe('addressFindings', () => {
  const cases = [
    { name: 'every address serves the same certificate', observations: [{ address: '192.0.2.1', fingerprintSha256: 'aa' }, { address: '192.0.2.2', fingerprintSha256: 'aa' }], disagree: false },
    { name: 'one address serves another certificate', observations: [{ address: '192.0.2.1', fingerprintSha256: 'aa' }, { address: '192.0.2.2', fingerprintSha256: 'bb' }], disagree: true },
    { name: 'one address served nothing', observations: [{ address: '192.0.2.1', fingerprintSha256: 'aa' }, { address: '192.0.2.2', fingerprintSha256: null }], disagree: false },
    { name: 'the name has a single address', observations: [{ address: '2001:db8::1', fingerprintSha256: 'aa' }], disagree: false },
  ];

  it.each(cases)('When $name, then addresses-disagree is raised: $disagree', ({ observations, disagree }) => {
    expect(codes(addressFindings('www.example.test', observations))).toEqual(disagree ? ['addresses-disagree'] : []);
  });

  it('When addresses disagree, then the detail maps every address to its fingerprint', () => {
    const [f] = addressFindings('www.example.test', [
      { address: '192.0.2.1', fingerprintSha256: 'aa' },
      { address: '192.0.2.2', fingerprintSha256: 'bb' },
      { address: '192.0.2.3', fingerprintSha256: null },
    ]);
    expect(f.detail).toEqual({ host: 'www.example.test', byAddress: { '192.0.2.1': 'aa', '192.0.2.2': 'bb', '192.0.2.3': null } });
    expect(f.message).toMatch(/www\.example\.test.*2 different certificates/);
  });
});

describe('sharedCertificateFinding', () => {
  it.each([
    { name: 'one endpoint', endpoints: ['a.example.test:443'], shared: false },
    { name: 'the same endpoint listed twice', endpoints: ['a.example.test:443', 'a.example.test:443'], shared: false },
    { name: 'two endpoints', endpoints: ['b.example.test:443', 'a.example.test:8443'], shared: true },
  ])('When a certificate is served on $name, then shared-certificate is raised: $shared', ({ endpoints, shared }) => {
    const f = sharedCertificateFinding('ab'.repeat(32), endpoints);
    if (!shared) return expect(f).toBeNull();
    expect(f).toMatchObject({ code: 'shared-certificate', severity: 'info', detail: { endpointIds: ['a.example.test:8443', 'b.example.test:443'] } });
    expect(f!.message).toMatch(/2 endpoints; rotate them together/);
  });
});
