/**
 * Analyze: observes what discovery saw at each address of an endpoint and decides what it means:
 * parses the presented chains, assesses expiry against the tenant's renewal policy, raises
 * findings (names, chain, keys, algorithms, addresses that disagree, certificates shared across
 * endpoints), records the inventory, and asks for renewal of the certificates certops manages.
 *
 * Idempotency: observations are upserts keyed by (tenant, endpoint, address); the emitted events
 * have ids derived from the sweep and endpoint, so a redelivery repeats the same facts.
 */
import { parseCertificate, summarize, type Certificate } from '../../domain/certificate';
import { addressFindings, certificateFindings, sharedCertificateFinding } from '../../domain/certificate-findings';
import type { CloudEvent } from '../../domain/events';
import { errorMessage } from '../../domain/errors';
import { finding, type Finding } from '../../domain/finding';
import { probeFailureFinding, resolutionFailureFinding } from '../../domain/reachability-findings';
import { assessExpiry } from '../../domain/renewal';
import { renewalVerdict, worstStatus } from '../../domain/renewal-checks';
import type { ObservationRecord } from '../../ports/certificate-store';
import type { AddressAssessment, AddressObservation, CertificateAnalyzed, EndpointDiscovered, EndpointRef, RenewalRequested } from '../event-data';
import type { StageContext } from '../stage';
import { EVENT_TYPES } from '../topology';
import { IssuerCertificateCache } from '../issuer-certificate-cache';
import { dns01ReadinessFindings } from '../dns01-check';
import { caRenewalView } from '../ari-watch';
import { assertOwnEndpoint, scopedTenant } from '../tenant-scope';

const issuers = new IssuerCertificateCache();

interface Assessed {
  assessment: AddressAssessment;
  record: ObservationRecord;
}

export async function analyze(event: CloudEvent, ctx: StageContext): Promise<CloudEvent[]> {
  const data = event.data as EndpointDiscovered;
  const { endpoint, sweepId } = data;
  const tenant = scopedTenant(ctx);
  assertOwnEndpoint(ctx, endpoint);
  const now = ctx.deps.clock.now();
  const anchors = await ctx.deps.trustAnchors(ctx.tenantId);
  const policy = tenant.policy?.renewal;

  const assessed: Assessed[] = data.addresses.map((obs) => assessAddress(obs, endpoint, data, ctx.tenantId, now, (chain) =>
    certificateFindings({ chain, host: endpoint.servername ?? endpoint.host, anchors, now }), policy));

  const endpointFindings: Finding[] = [];
  if (data.resolutionError) endpointFindings.push(resolutionFailureFinding(endpoint.host, data.resolutionError));
  endpointFindings.push(
    ...addressFindings(endpoint.host, assessed.map((a) => ({ address: a.assessment.address, fingerprintSha256: a.assessment.fingerprintSha256 }))),
  );

  if (endpoint.managedCertificateId) endpointFindings.push(...(await dns01ReadinessFindings(ctx, tenant, endpoint.managedCertificateId)));

  // What the issuing CA says of the served certificate (ACME ARI), when it says anything.
  const status = worstStatus(assessed.map((a) => a.assessment.status));
  const worstServed = assessed.find((a) => a.assessment.status === status);
  const leaf = worstServed && data.addresses.find((a) => a.address === worstServed.assessment.address)?.chain[0];
  const caView = leaf
    ? await caRenewalView(ctx, tenant, endpoint.managedCertificateId, endpoint.endpointId, Buffer.from(leaf, 'base64'), now)
    : { ari: null, findings: [] };
  endpointFindings.push(...caView.findings);

  const records = assessed.map((a) => a.record);
  if (records.length === 0) records.push(unresolvedRecord(ctx.tenantId, endpoint, data));
  for (const r of records) r.findings.push(...endpointFindings);
  await ctx.deps.store.putObservations(ctx.tenantId, records);

  // One certificate on several endpoints: they must rotate together. Seen from this endpoint's
  // side; the report derives it for every endpoint of the group.
  for (const fingerprint of new Set(assessed.map((a) => a.assessment.fingerprintSha256).filter((f): f is string => f !== null))) {
    const elsewhere = await ctx.deps.store.findObservationsByFingerprint(ctx.tenantId, fingerprint);
    const shared = sharedCertificateFinding(fingerprint, [...new Set(elsewhere.map((o) => o.endpointId).concat(endpoint.endpointId))].sort());
    if (shared) endpointFindings.push(shared);
  }

  const out: CloudEvent[] = [];
  const allFindings = [...endpointFindings, ...assessed.flatMap((a) => a.assessment.findings)];
  let renewal: { renew: boolean; reason: string } | null = null;
  if (endpoint.managedCertificateId) {
    renewal = renewalVerdict({ status, statusReason: worstServed?.assessment.reason ?? null, findings: allFindings, ari: caView.ari });
    if (renewal.renew) {
      const request: RenewalRequested = {
        sweepId,
        certificateId: endpoint.managedCertificateId,
        endpointId: endpoint.endpointId,
        currentFingerprint: worstServed?.assessment.fingerprintSha256 ?? null,
        observedAt: data.observedAt,
        notAfter: worstServed?.assessment.notAfter ?? null,
        status,
        reason: renewal.reason,
        // The CA knows this certificate (it answered for it): the new order names it (RFC 9773 §5).
        replaces: caView.ari?.certId ?? null,
      };
      // One renewal per managed certificate per sweep, whichever of its endpoints asks first.
      out.push(ctx.emit(EVENT_TYPES.renewalRequested, request, { id: `${sweepId}:renew:${endpoint.managedCertificateId}`, subject: endpoint.managedCertificateId }));
    }
  }

  const analyzed: CertificateAnalyzed = {
    sweepId,
    endpoint,
    status,
    addresses: assessed.map((a) => a.assessment),
    findings: endpointFindings,
    renewalRequested: renewal?.renew ?? false,
  };
  out.unshift(ctx.emit(EVENT_TYPES.certificateAnalyzed, analyzed, { id: `${sweepId}:${endpoint.endpointId}:analyzed`, subject: endpoint.endpointId }));

  ctx.log.info(
    { endpoint: endpoint.endpointId, status, findings: allFindings.map((f) => f.code), renewal },
    'endpoint analyzed',
  );
  await ctx.audit('endpoint.analyzed', {
    sweepId,
    endpointId: endpoint.endpointId,
    status,
    addresses: assessed.map((a) => ({ address: a.assessment.address, fingerprint: a.assessment.fingerprintSha256, status: a.assessment.status, reason: a.assessment.reason })),
    findings: allFindings.map((f) => f.code),
    renewal,
  });
  return out;
}

function assessAddress(
  obs: AddressObservation,
  endpoint: EndpointRef,
  data: EndpointDiscovered,
  tenantId: string,
  now: Date,
  findingsOf: (chain: Certificate[]) => Finding[],
  policy: Parameters<typeof assessExpiry>[2],
): Assessed {
  const record = observationRecord(tenantId, endpoint, data, obs.address, obs.outcome, obs.error);
  const assessment: AddressAssessment = { address: obs.address, fingerprintSha256: null, status: null, reason: null, notAfter: null, daysLeft: null, findings: [] };

  if (obs.outcome === 'error' || obs.chain.length === 0) {
    const error = obs.error ?? { code: 'no-certificate', message: 'no certificate was presented' };
    assessment.findings.push(probeFailureFinding(endpoint.host, endpoint.port, obs.address, error, data.addresses));
    record.findings = [...assessment.findings];
    return { assessment, record };
  }

  let chain: Certificate[];
  try {
    chain = obs.chain.map((b64, i) => (i === 0 ? parseCertificate(Buffer.from(b64, 'base64')) : issuers.parse(b64)));
  } catch (err) {
    assessment.findings.push(
      finding('malformed-certificate', 'critical', `${endpoint.endpointId} at ${obs.address} presented a certificate that cannot be parsed (${errorMessage(err)}); replace it.`, {
        address: obs.address,
      }),
    );
    record.outcome = 'error';
    record.error = { code: 'malformed-certificate', message: errorMessage(err) };
    record.findings = [...assessment.findings];
    return { assessment, record };
  }

  const leaf = chain[0];
  const expiry = assessExpiry({ notBefore: leaf.notBefore, notAfter: leaf.notAfter }, now, policy);
  assessment.fingerprintSha256 = leaf.fingerprintSha256;
  assessment.status = expiry.status;
  assessment.reason = expiry.reason;
  assessment.notAfter = leaf.notAfter.toISOString();
  assessment.daysLeft = expiry.daysLeft;
  assessment.findings.push(...findingsOf(chain));

  record.certificate = summarize(leaf, chain.length);
  record.status = expiry.status;
  record.statusReason = `${expiry.reason}: ${expiry.message}`;
  record.renewAt = expiry.renewAt.toISOString();
  record.daysLeft = expiry.daysLeft;
  record.findings = [...assessment.findings];
  return { assessment, record };
}

function unresolvedRecord(tenantId: string, endpoint: EndpointRef, data: EndpointDiscovered): ObservationRecord {
  return observationRecord(tenantId, endpoint, data, '', 'error', data.resolutionError);
}

/** An observation with nothing judged yet; analysis fills in the certificate, status and findings. */
function observationRecord(
  tenantId: string,
  endpoint: EndpointRef,
  data: EndpointDiscovered,
  address: string,
  outcome: ObservationRecord['outcome'],
  error: ObservationRecord['error'],
): ObservationRecord {
  return {
    tenantId,
    endpointId: endpoint.endpointId,
    host: endpoint.host,
    port: endpoint.port,
    servername: endpoint.servername,
    address,
    sweepId: data.sweepId,
    observedAt: data.observedAt,
    outcome,
    certificate: null,
    status: null,
    statusReason: null,
    renewAt: null,
    daysLeft: null,
    findings: [],
    error,
    managedCertificateId: endpoint.managedCertificateId,
  };
}
