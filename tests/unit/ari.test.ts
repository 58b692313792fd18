import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ariCertId, parseRenewalInfo, renewalMoment, windowMovedEarlier } from '../../shared/domain/ari';
import { PermanentError } from '../../shared/domain/errors';
import { parsePemBundle } from '../../shared/domain/certificate';
import { aCertificate } from '../support/x509-builders';
import { fixturePath } from '../support/fixtures';

const ACME = fixturePath('acme');
const vector = JSON.parse(readFileSync(path.join(ACME, 'rfc9773-certid-vector.json'), 'utf8'));

describe('ARI CertID (RFC 9773 §4.1)', () => {
  it('When the RFC\'s Appendix A certificate is named, then the CertID is the RFC\'s own test vector', () => {
    const [cert] = parsePemBundle(readFileSync(path.join(ACME, 'rfc9773-appendix-a-example-cert.pem'), 'utf8'));
    expect(ariCertId(cert.der)).toBe(vector.certID);
  });

  it('When a certificate has no Authority Key Identifier, then it cannot be named, and says why', async () => {
    const selfSigned = await aCertificate({ selfSigned: true });
    // certificate-factory adds an AKI only to issued certificates
    expect(() => ariCertId(selfSigned.certificate.der)).toThrow(PermanentError);
  });
});

describe('ARI windows', () => {
  const window = parseRenewalInfo(JSON.parse(readFileSync(path.join(ACME, 'rfc9773-renewalinfo-example.json'), 'utf8'))).window;

  it('When the RFC\'s example response is read, then its window and explanation are kept', () => {
    expect(window).toEqual({ start: new Date('2025-01-02T04:00:00Z'), end: new Date('2025-01-03T04:00:00Z') });
    expect(parseRenewalInfo(vector.response.body).explanationUrl).toBe('https://acme.example.com/docs/ari');
  });

  it.each([
    ['no window', {}],
    ['an inverted window', { suggestedWindow: { start: '2025-01-03T00:00:00Z', end: '2025-01-02T00:00:00Z' } }],
    ['dates that are not dates', { suggestedWindow: { start: 'soon', end: 'later' } }],
  ])('When a response has %s, then it is refused', (_case, body) => {
    expect(() => parseRenewalInfo(body)).toThrow(PermanentError);
  });

  it.each([
    ['before the window', '2025-01-01T00:00:00Z', 0.5, '2025-01-02T16:00:00.000Z', 'InWindow'],
    ['before the window, at its first instant', '2025-01-01T00:00:00Z', 0, '2025-01-02T04:00:00.000Z', 'InWindow'],
    ['inside the window', '2025-01-02T16:00:00Z', 0.5, '2025-01-02T22:00:00.000Z', 'WindowOpen'],
    ['after the window (the revocation signal)', '2025-01-04T00:00:00Z', 0.5, '2025-01-04T00:00:00.000Z', 'WindowPassed'],
  ])('When it is %s, then renewal is at a random moment certops can account for', (_case, now, random, at, reason) => {
    expect(renewalMoment(window, new Date(now), () => random)).toEqual({ at: new Date(at), reason });
  });

  it('When the CA moves a window earlier, then that is noticed; later is not', () => {
    const earlier = { start: new Date('2025-01-01T00:00:00Z'), end: new Date('2025-01-02T00:00:00Z') };
    const later = { start: new Date('2025-01-05T00:00:00Z'), end: new Date('2025-01-06T00:00:00Z') };
    expect(windowMovedEarlier(window, earlier)).toBe(true);
    expect(windowMovedEarlier(window, later)).toBe(false);
  });
});
