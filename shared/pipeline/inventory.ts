/**
 * The inventory as a person reads it: one row per certificate seen, per tenant, endpoint and
 * address, from each endpoint's latest sweep only (an address that stopped resolving drops out).
 * Certificates served on several endpoints are marked on every one of them.
 */
import { sharedCertificateFinding } from '../domain/certificate-findings';
import type { Finding } from '../domain/finding';
import type { CertificateStore, ObservationRecord } from '../ports/certificate-store';

export interface InventoryRow {
  tenant: string;
  endpoint: string;
  address: string;
  subject: string | null;
  sans: string[];
  issuer: string | null;
  notAfter: string | null;
  daysLeft: number | null;
  status: string;
  fingerprint: string | null;
  managed: string | null;
  findings: Finding[];
  error: string | null;
  observedAt: string;
}

export function latestObservations(records: ObservationRecord[]): ObservationRecord[] {
  const latest = new Map<string, string>();
  for (const r of records) {
    const seen = latest.get(r.endpointId);
    if (!seen || r.observedAt > seen) latest.set(r.endpointId, r.observedAt);
  }
  return records.filter((r) => r.observedAt === latest.get(r.endpointId));
}

export function inventoryRows(records: ObservationRecord[]): InventoryRow[] {
  const current = latestObservations(records);
  const endpointsByFingerprint = new Map<string, Set<string>>();
  for (const r of current) {
    const fp = r.certificate?.fingerprintSha256;
    if (fp) endpointsByFingerprint.set(fp, (endpointsByFingerprint.get(fp) ?? new Set()).add(r.endpointId));
  }
  return current
    .map((r): InventoryRow => {
      const fp = r.certificate?.fingerprintSha256 ?? null;
      const findings = r.findings.filter((f) => f.code !== 'shared-certificate');
      const shared = fp ? sharedCertificateFinding(fp, [...(endpointsByFingerprint.get(fp) ?? [])].sort()) : null;
      if (shared) findings.push(shared);
      return {
        tenant: r.tenantId,
        endpoint: r.endpointId,
        address: r.address,
        subject: r.certificate?.subject ?? null,
        sans: r.certificate ? [...r.certificate.dnsNames, ...r.certificate.ipAddresses] : [],
        issuer: r.certificate?.issuer ?? null,
        notAfter: r.certificate?.notAfter ?? null,
        daysLeft: r.daysLeft,
        status: r.status ?? 'unobserved',
        fingerprint: fp,
        managed: r.managedCertificateId,
        findings,
        error: r.error ? `${r.error.code}: ${r.error.message}` : null,
        observedAt: r.observedAt,
      };
    })
    .sort((a, b) => a.tenant.localeCompare(b.tenant) || a.endpoint.localeCompare(b.endpoint) || a.address.localeCompare(b.address));
}

export async function inventory(store: CertificateStore, tenantIds?: string[]): Promise<InventoryRow[]> {
  const tenants = tenantIds?.length ? tenantIds : await store.listTenants();
  const rows: InventoryRow[] = [];
  for (const t of tenants) rows.push(...inventoryRows(await store.listObservations(t)));
  return rows;
}
