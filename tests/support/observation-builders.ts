/** Builders of the inventory's records: a certificate summary and an observation, overridable field by field. */
import type { CertificateSummary, ObservationRecord } from '../../shared/ports/certificate-store';

export function aCertificate(overrides: Partial<CertificateSummary> = {}): CertificateSummary {
  return {
    fingerprintSha256: 'ab'.repeat(32),
    subject: 'CN=www.contoso.test',
    commonName: 'www.contoso.test',
    dnsNames: ['www.contoso.test'],
    ipAddresses: [],
    issuer: 'CN=Contoso CA',
    serialNumber: '01',
    notBefore: '2025-01-01T00:00:00.000Z',
    notAfter: '2025-04-01T00:00:00.000Z',
    keyType: 'EC',
    keySize: 256,
    signatureAlgorithm: 'ecdsa-with-SHA256',
    selfSigned: false,
    chainLength: 2,
    ...overrides,
  };
}

export function anObservation(overrides: Partial<ObservationRecord> = {}): ObservationRecord {
  return {
    tenantId: 'contoso',
    endpointId: 'www.contoso.test:443',
    host: 'www.contoso.test',
    port: 443,
    servername: null,
    address: '127.0.0.1',
    sweepId: 'sweep-1',
    observedAt: '2025-03-01T00:00:00.000Z',
    outcome: 'ok',
    certificate: aCertificate(),
    status: null,
    statusReason: null,
    renewAt: null,
    daysLeft: 31,
    findings: [],
    error: null,
    managedCertificateId: null,
    ...overrides,
  };
}
