/**
 * The OSCAL export of a tenant's evidence (domain/oscal.ts builds the document): its audit records
 * for a period, its observations, the chain's head at export time and the tenant's latest signed
 * head from the head log (which the export carries out of the machine, for a witness to keep), for
 * the CLI (`certops audit export`) and the API.
 */
import { GENESIS_HASH } from '../domain/audit-chain';
import { assessmentResults, type OscalAssessmentResults } from '../domain/oscal';
import type { PipelineDeps } from './stage';

const TOOL_VERSION = '0.1.0';

export async function exportOscal(deps: Pick<PipelineDeps, 'audit' | 'auditHeads' | 'store' | 'tenants' | 'clock'>, tenantId: string, period: { from?: string; to?: string } = {}): Promise<OscalAssessmentResults> {
  const records = await deps.audit.list(tenantId);
  const last = records.at(-1);
  return assessmentResults({
    tenantId,
    tenantName: deps.tenants.get(tenantId)?.name,
    records,
    observations: await deps.store.listObservations(tenantId),
    chainHead: { seq: last?.seq ?? 0, hash: last?.hash ?? GENESIS_HASH },
    signedHead: await deps.auditHeads.latest(tenantId),
    ...period,
    generatedAt: deps.clock.now(),
    toolVersion: TOOL_VERSION,
  });
}
