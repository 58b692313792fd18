import { IssuerCertificateCache } from '../../shared/pipeline/issuer-certificate-cache';
import { MalformedCertificateError } from '../../shared/domain/errors';
import { aCA } from '../support/x509-builders';

const b64 = (pem: string) => pem.replace(/-----[^-]+-----|\s/g, '');

describe('IssuerCertificateCache', () => {
  it('When the same issuer is presented again, then the parsed certificate is reused', async () => {
    const ca = await aCA();
    const cache = new IssuerCertificateCache(2);
    const first = cache.parse(b64(ca.pem));
    expect(first.fingerprintSha256).toBe(ca.certificate.fingerprintSha256);
    expect(cache.parse(b64(ca.pem))).toBe(first);
  });

  it('When more issuers than its capacity are seen, then the least recently used is dropped', async () => {
    const [a, b, c] = await Promise.all([aCA(), aCA(), aCA()]);
    const cache = new IssuerCertificateCache(2);
    const parsedA = cache.parse(b64(a.pem));
    const parsedB = cache.parse(b64(b.pem));
    cache.parse(b64(a.pem)); // a is now the most recent
    cache.parse(b64(c.pem)); // b goes
    expect(cache.size).toBe(2);
    expect(cache.parse(b64(a.pem))).toBe(parsedA);
    expect(cache.parse(b64(b.pem))).not.toBe(parsedB); // parsed anew
  });

  it('When the bytes are not a certificate, then it throws and remembers nothing', () => {
    const cache = new IssuerCertificateCache();
    expect(() => cache.parse(Buffer.from('garbage').toString('base64'))).toThrow(MalformedCertificateError);
    expect(cache.size).toBe(0);
  });
});
