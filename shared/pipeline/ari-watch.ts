/**
 * What the issuing CA says about a served certificate (ACME Renewal Information, RFC 9773),
 * asked through the tenant's ACME issuer (cached per the CA's Retry-After):
 * - for a managed certificate, whether its renewal is due: at a moment inside the window that
 *   stays put between sweeps, or at once when the window has passed;
 * - for any certificate the CA answers for (managed or merely discovered), a finding while the
 *   window sits earlier than the one first seen: CAs move it earlier before revoking.
 */
import type { TenantConfig } from '../config/model';
import { stableRenewalMoment, windowMovedEarlier } from '../domain/ari';
import { finding, type Finding } from '../domain/finding';
import type { StageContext } from './stage';

export interface CaRenewalView {
  ari: { due: boolean; reason: string; certId: string } | null;
  findings: Finding[];
}

export async function caRenewalView(
  ctx: StageContext,
  tenant: TenantConfig,
  managedCertificateId: string | null,
  endpointId: string,
  leafDer: Buffer,
  now: Date,
): Promise<CaRenewalView> {
  const managed = managedCertificateId ? tenant.managedCertificates?.find((m) => m.id === managedCertificateId) : undefined;
  const issuerName = managed?.issuer ?? (tenant.acme ? 'acme' : undefined);
  const issuer = issuerName ? ctx.deps.issuers.get(issuerName) : undefined;
  const suggestion = await issuer?.renewalSuggestion?.(ctx.tenantId, leafDer);
  if (!suggestion) return { ari: null, findings: [] };

  const { store } = ctx.deps;
  const first = await store.getRenewalWindow(ctx.tenantId, suggestion.certId);
  if (!first) {
    await store.putRenewalWindow({
      tenantId: ctx.tenantId,
      certId: suggestion.certId,
      start: suggestion.window.start.toISOString(),
      end: suggestion.window.end.toISOString(),
      seenAt: now.toISOString(),
    });
  }
  const findings: Finding[] = [];
  if (first && windowMovedEarlier({ start: new Date(first.start), end: new Date(first.end) }, suggestion.window)) {
    findings.push(
      finding(
        'ari-window-moved-earlier',
        'warning',
        `The CA moved the renewal window of the certificate on ${endpointId} earlier (now ${suggestion.window.start.toISOString()} to ${suggestion.window.end.toISOString()}, first seen ending ${first.end}); CAs do this before revoking: renew it before the window ends.`,
        { certId: suggestion.certId, window: { start: suggestion.window.start.toISOString(), end: suggestion.window.end.toISOString() }, firstSeen: { start: first.start, end: first.end } },
      ),
    );
  }
  if (!managed) return { ari: null, findings };
  const moment = stableRenewalMoment(suggestion.window, suggestion.certId, now);
  ctx.log.debug({ certificateId: managed.id, window: suggestion.window, at: moment.at, reason: moment.reason }, 'CA renewal window');
  return { ari: { due: moment.at <= now, reason: `ARI:${moment.reason}`, certId: suggestion.certId }, findings };
}
