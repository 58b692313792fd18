import { X509Certificate } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type Certificate, parseCertificate, parsePemBundle, summarize } from '../../shared/domain/certificate';
import { MalformedCertificateError } from '../../shared/domain/errors';
import { aCA, aCertificate, referenceChain } from '../support/x509-builders';
import { fixturePath } from '../support/fixtures';

const BADSSL_DIR = fixturePath('x509', 'badssl');
const badsslFiles = fs.readdirSync(BADSSL_DIR).sort();

describe('parseCertificate and parsePemBundle on real certificates', () => {
  it('When the badssl reference set is listed, then all 19 files are there (the table below is not silently empty)', () => {
    expect(badsslFiles).toHaveLength(19);
  });

  describe.each(badsslFiles)('When %s is parsed', (file) => {
    const pem = fs.readFileSync(path.join(BADSSL_DIR, file), 'utf8');
    const chain = parsePemBundle(pem);

    it('then every PEM block becomes one certificate, in order', () => {
      expect(chain).toHaveLength(pem.match(/-----BEGIN CERTIFICATE-----/g)!.length);
    });

    it.each(chain.map((c, i) => [i, c] as const))('then certificate #%i agrees with OpenSSL on fingerprint, serial, dates, CA flag and key size', (_i, cert) => {
      const x = new X509Certificate(cert.der);
      expect(cert.fingerprintSha256).toBe(x.fingerprint256.replace(/:/g, '').toLowerCase());
      expect(cert.serialNumber).toBe(x.serialNumber.toLowerCase().replace(/^(00)+(?=.)/, ''));
      expect(cert.notBefore).toEqual(new Date(x.validFrom));
      expect(cert.notAfter).toEqual(new Date(x.validTo));
      expect(cert.isCA).toBe(x.ca);
      expect(cert.keySize).toBeGreaterThanOrEqual(256);
      expect(cert.issuer.length).toBeGreaterThan(0);
    });
  });

  type Row = { name: string; file: string; expect: Partial<Certificate>; dnsCount?: number };
  const leafCases: Row[] = [
    { name: 'an RSA-2048 wildcard', file: 'badssl/wildcard-rsa2048.pem', expect: { keyType: 'rsa', keySize: 2048, commonName: '*.badssl.com', dnsNames: ['*.badssl.com', 'badssl.com'], signatureAlgorithm: 'sha256WithRSAEncryption', signatureHash: 'SHA-256', selfSigned: false, isCA: false } },
    { name: 'an RSA-8192 key', file: 'badssl/wildcard-rsa8192.pem', expect: { keyType: 'rsa', keySize: 8192, subject: 'CN=*.badssl.com' } },
    { name: 'an ECDSA P-256 key', file: 'badssl/wildcard-ecc256.pem', expect: { keyType: 'ec', keySize: 256, curve: 'prime256v1', signatureAlgorithm: 'ecdsa-with-SHA384' } },
    { name: 'an ECDSA P-384 key', file: 'badssl/wildcard-ecc384.pem', expect: { keyType: 'ec', keySize: 384, curve: 'secp384r1' } },
    { name: 'a SHA-1 leaf', file: 'badssl/wildcard-sha1-2016.pem', expect: { signatureAlgorithm: 'sha1WithRSAEncryption', signatureHash: 'SHA-1' } },
    { name: 'an empty subject', file: 'badssl/subdomain-no-subject.pem', expect: { subject: '', commonName: null, dnsNames: ['no-subject.badssl.com'] } },
    { name: 'no common name', file: 'badssl/subdomain-no-common-name.pem', expect: { commonName: null, subject: 'OU=Multi-Domain SSL, O=Lucas Garron, L=Walnut Creek, ST=California, C=US' } },
    { name: 'an IDN, whose SANs stay punycode while the CN is UTF-8', file: 'badssl/subdomain-xn--n1aae7f7o.pem', expect: { dnsNames: ['xn--n1aae7f7o.badssl.com', 'www.xn--n1aae7f7o.badssl.com'], commonName: 'ѕрооғ.badssl.com' } },
    { name: 'a self-signed leaf', file: 'badssl/wildcard-self-signed.pem', expect: { selfIssued: true, selfSigned: true, isCA: false } },
    { name: 'the Superfish root (commas escaped per RFC 4514)', file: 'badssl/ca-superfish.crt', expect: { subject: 'CN=Superfish\\, Inc., C=US, ST=CA, L=SF, O=Superfish\\, Inc.', keySize: 1024, isCA: true, selfSigned: true, signatureHash: 'SHA-1' } },
    { name: 'an issuer that is not self-issued', file: 'badssl/subdomain-superfish.pem', expect: { selfIssued: false, selfSigned: false, commonName: 'superfish.badssl.com', issuer: 'CN=Superfish\\, Inc., C=US, ST=CA, L=SF, O=Superfish\\, Inc.' } },
    { name: 'Chromium RSA-1024 with an openssl text dump around the PEM', file: 'chromium/client_rsa1024.pem', expect: { keyType: 'rsa', keySize: 1024, subject: 'CN=Client Cert J', issuer: 'CN=E CA', notBefore: new Date('2026-08-15T19:06:16Z') } },
    { name: '1000 SANs', file: 'badssl/subdomain-1000-sans.pem', expect: { commonName: '1000-sans.badssl.com' }, dnsCount: 1000 },
  ];

  it.each(leafCases)('When the leaf has $name, then the parsed facts say so', ({ file, expect: expected, dnsCount }) => {
    const [leaf] = referenceChain(file);
    expect(leaf).toMatchObject(expected);
    if (dnsCount !== undefined) expect(leaf.dnsNames).toHaveLength(dnsCount);
  });

  it('When the intermediate is SHA-1 signed and the leaf is not, then only the intermediate reports SHA-1', () => {
    const [leaf, intermediate] = referenceChain('badssl/wildcard-sha1-intermediate.pem');
    expect([leaf.signatureHash, intermediate.signatureHash]).toEqual(['SHA-256', 'SHA-1']);
    expect(intermediate.isCA).toBe(true);
  });

  it('When the same certificate is given as DER and as PEM, then both parse to the same facts', () => {
    const [leaf] = referenceChain('badssl/wildcard-ecc256.pem');
    const fromPem = parseCertificate(`-----BEGIN CERTIFICATE-----\n${leaf.der.toString('base64')}\n-----END CERTIFICATE-----\n`);
    const fromDer = parseCertificate(leaf.der);
    expect(fromPem).toEqual(fromDer);
    expect(parseCertificate(Buffer.from(`junk before\n${fromPem.der.toString('base64').replace(/^/, '-----BEGIN CERTIFICATE-----\n')}\n-----END CERTIFICATE-----`))).toEqual(fromDer);
  });
});

describe('parseCertificate on generated certificates', () => {
  it('When the SANs include IPv4 and IPv6 addresses, then they read back as text, IPv6 compressed', async () => {
    const { certificate } = await aCertificate({ dnsNames: ['a.example.test'], ipAddresses: ['192.0.2.7', '2001:db8:0:0:0:0:0:1'] });
    expect(certificate.ipAddresses).toEqual(['192.0.2.7', '2001:db8::1']);
    expect(certificate.dnsNames).toEqual(['a.example.test']);
  });

  it.each([
    { name: 'EC signed with SHA-1', keySpec: 'ec-p256' as const, algorithm: 'ecdsa-with-SHA1' },
    { name: 'RSA signed with SHA-1', keySpec: 'rsa-2048' as const, algorithm: 'sha1WithRSAEncryption' },
    { name: 'RSA signed with SHA-384', keySpec: 'rsa-2048' as const, algorithm: 'sha384WithRSAEncryption', hash: 'SHA-384' as const },
  ])('When a certificate is $name, then the signature algorithm is named as OpenSSL names it', async ({ keySpec, algorithm, hash }) => {
    const issuer = await aCA({ keySpec });
    const { certificate } = await aCertificate({ issuer, hash: hash ?? 'SHA-1' });
    expect(certificate.signatureAlgorithm).toBe(algorithm);
  });

  it('When the subject is empty, then subject is the empty string and there is no common name', async () => {
    const { certificate } = await aCertificate({ subject: '', dnsNames: ['empty.example.test'] });
    expect(certificate).toMatchObject({ subject: '', commonName: null });
  });

  it('When a root is generated, then it is a self-signed CA and an RSA-1024 key reports 1024 bits', async () => {
    const root = await aCA({ keySpec: 'rsa-1024' });
    expect(root.certificate).toMatchObject({ isCA: true, selfIssued: true, selfSigned: true, keyType: 'rsa', keySize: 1024 });
  });

  it('When a certificate names its issuer as its subject but another key signed it, then it is self-issued but not self-signed', async () => {
    const ca = await aCA({ subject: 'CN=Same Name' });
    const { certificate } = await aCertificate({ subject: 'CN=Same Name', issuer: ca });
    expect(certificate).toMatchObject({ selfIssued: true, selfSigned: false });
  });

  it('When a certificate is summarised, then dates are ISO strings and the chain length is kept', async () => {
    const { certificate } = await aCertificate({ daysLeft: 10 });
    const summary = summarize(certificate, 3);
    expect(summary).toMatchObject({
      fingerprintSha256: certificate.fingerprintSha256,
      notAfter: certificate.notAfter.toISOString(),
      notBefore: certificate.notBefore.toISOString(),
      keyType: 'ec',
      keySize: 256,
      chainLength: 3,
      selfSigned: false,
    });
    expect(JSON.parse(JSON.stringify(summary))).toEqual(summary);
  });
});

describe('parseCertificate on malformed input', () => {
  let good: Buffer;
  beforeAll(async () => {
    good = (await aCertificate()).certificate.der;
  });

  const pemOf = (b: Buffer) => `-----BEGIN CERTIFICATE-----\n${b.toString('base64')}\n-----END CERTIFICATE-----\n`;
  const cases: Array<{ name: string; input: () => Buffer | string; message: RegExp }> = [
    { name: 'garbage bytes', input: () => Buffer.from('30 not a certificate at all'), message: /not a well-formed X\.509 certificate/ },
    { name: 'an empty buffer', input: () => Buffer.alloc(0), message: /not a well-formed/ },
    { name: 'DER truncated by 10 bytes', input: () => good.subarray(0, good.length - 10), message: /not a well-formed.*truncated/ },
    { name: 'DER cut in half', input: () => good.subarray(0, good.length >> 1), message: /not a well-formed/ },
    { name: 'DER with trailing bytes', input: () => Buffer.concat([good, Buffer.from([0, 0])]), message: /not a well-formed/ },
    { name: 'a PEM block of garbage', input: () => pemOf(Buffer.from('hello world, no ASN.1 here')), message: /PEM block is not a well-formed/ },
    { name: 'a PEM block that is not base64', input: () => '-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----', message: /not valid base64/ },
    { name: 'text without any PEM block', input: () => 'just some text', message: /no PEM CERTIFICATE block found/ },
    { name: 'two PEM blocks', input: () => pemOf(good) + pemOf(good), message: /found 2; use parsePemBundle/ },
  ];

  it.each(cases)('When given $name, then it throws MalformedCertificateError saying what to check', ({ input, message }) => {
    let thrown: unknown;
    try {
      parseCertificate(input());
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(MalformedCertificateError);
    expect((thrown as Error).message).toMatch(message);
  });

  it('When one block of a bundle is broken, then parsePemBundle names that block', () => {
    expect(() => parsePemBundle(pemOf(good) + pemOf(good.subarray(0, 40)))).toThrow(/PEM block #2/);
  });

  it('When a text holds no certificate block, then parsePemBundle returns an empty list', () => {
    expect(parsePemBundle('-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----')).toEqual([]);
  });
});
