/**
 * The daily digest: what noise control held back (below a tenant's threshold, or during its quiet
 * hours) is sent as one notification per tenant, then cleared. A crash between sending and clearing
 * sends the same digest again with the same id, which every channel has already claimed: never
 * lost, never told twice.
 */
import { buildDigest } from '../domain/digest';
import { contact, sendNow } from './delivery';
import type { PipelineDeps } from './stage';

/** Six-field NCRONTAB: 07:00 UTC every day. */
export const DEFAULT_DIGEST_SCHEDULE = '0 0 7 * * *';

export async function sendDigests(deps: PipelineDeps): Promise<Array<{ tenantId: string; items: number }>> {
  const sent: Array<{ tenantId: string; items: number }> = [];
  for (const tenant of deps.tenants.list()) {
    const items = await deps.governance.listDigest(tenant.id);
    const digest = buildDigest(tenant.id, items, deps.clock.now(), contact(tenant.assignee));
    if (!digest) continue;
    const audit = async (kind: string, data: Record<string, unknown>) => void (await deps.audit.append(tenant.id, { kind, actor: 'job:digest', correlationId: digest.id, data }));
    await sendNow({ deps, tenant, audit, log: deps.logger }, digest);
    await deps.governance.clearDigest(tenant.id, items.map((i) => i.id));
    sent.push({ tenantId: tenant.id, items: items.length });
  }
  return sent;
}
