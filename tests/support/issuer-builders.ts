/** A certificate request of tenant contoso for `www.contoso.test` (certificate `web`), with overrides. */
import type { CertificateRequest } from '../../shared/ports/issuer';

export function aCertificateRequest(overrides: Partial<CertificateRequest> = {}): CertificateRequest {
  return {
    tenantId: 'contoso',
    certificateId: 'web',
    commonName: 'www.contoso.test',
    dnsNames: ['www.contoso.test'],
    ipAddresses: [],
    keyType: 'ec-p256',
    validityDays: 90,
    ...overrides,
  };
}
