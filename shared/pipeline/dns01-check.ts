/**
 * DNS-01 readiness of a managed certificate's client domains, looked up at every sweep: for each
 * name, what the CA will find at `_acme-challenge.<name>` decides whether certops can prove it
 * directly, through the MSP's delegation zone, or not at all (a finding naming the CNAME to ask
 * the client for). A lookup that fails says nothing this sweep; the next one asks again.
 */
import type { TenantConfig } from '../config/model';
import { errorMessage } from '../domain/errors';
import type { Finding } from '../domain/finding';
import { assessDns01Readiness, isWithinZones } from '../domain/dns01-readiness';
import type { StageContext } from './stage';

export async function dns01ReadinessFindings(ctx: StageContext, tenant: TenantConfig, certificateId: string): Promise<Finding[]> {
  const managed = tenant.managedCertificates?.find((m) => m.id === certificateId);
  const dns01 = tenant.acme?.challenge === 'dns-01' ? tenant.acme.dns01 : undefined;
  if (managed?.issuer !== 'acme' || !dns01) return [];
  const zone = dns01.delegationZone;
  const domains = [...new Set(managed.dnsNames.map((n) => n.toLowerCase().replace(/^\*\./, '')))];
  const findings: Finding[] = [];
  for (const domain of domains) {
    let cname: string | null;
    try {
      cname = await ctx.deps.dnsLookup(tenant.id).challengeCname(domain);
    } catch (err) {
      ctx.log.warn({ domain, err: errorMessage(err) }, 'DNS-01 readiness could not be checked this sweep');
      continue;
    }
    // With a delegation zone certops writes only there; without one, its provider writes in the
    // client's zone directly.
    const writable = zone ? cname !== null && isWithinZones(cname, [zone]) : true;
    const readiness = assessDns01Readiness({ domain, cnameTarget: cname, writable }, { delegationZone: zone });
    if (readiness.finding) findings.push(readiness.finding);
  }
  return findings;
}
