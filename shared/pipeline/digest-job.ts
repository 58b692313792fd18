/**
 * The daily digest: what noise control held back (below a tenant's threshold, or during its quiet
 * hours) is sent as one notification per tenant, then cleared. A crash between sending and clearing
 * sends the same digest again with the same id, which every channel has already claimed: never
 * lost, never told twice.
 *
 * Each digest also carries the tenant's latest signed audit head (fact `auditHead`, the head's JSON
 * line as the head log stores it): whoever receives the digest, on any channel, holds a copy of
 * where the tenant's audit stood, to check it later with `certops audit verify --head FILE`.
 */
import { buildDigest } from '../domain/digest';
import { headLine } from '../domain/signed-head';
import { contact, sendNow } from './delivery';
import type { PipelineDeps } from './stage';

/** Six-field NCRONTAB: 07:00 UTC every day. */
export const DEFAULT_DIGEST_SCHEDULE = '0 0 7 * * *';

export async function sendDigests(deps: PipelineDeps): Promise<Array<{ tenantId: string; items: number }>> {
  const sent: Array<{ tenantId: string; items: number }> = [];
  for (const tenant of deps.tenants.list()) {
    // One tenant's failing channel must not hold back the others' digests.
    try {
      const items = await deps.governance.listDigest(tenant.id);
      const built = buildDigest(tenant.id, items, deps.clock.now(), contact(tenant.assignee));
      if (!built) continue;
      // A head log that cannot be read does not hold the digest back; the next one carries the head.
      const head = await deps.auditHeads.latest(tenant.id).catch(() => null);
      const digest = head ? { ...built, facts: { ...built.facts, auditHead: headLine(head) } } : built;
      const audit = async (kind: string, data: Record<string, unknown>) => void (await deps.audit.append(tenant.id, { kind, actor: 'job:digest', correlationId: digest.id, data }));
      const { delivered, refused } = await sendNow({ deps, tenant, audit, log: deps.logger }, digest);
      // Every channel refused (a flow switched off, consent revoked): keep the queue for the next run.
      if (deps.notifiers.length > 0 && delivered.length === 0 && refused.length === deps.notifiers.length) {
        deps.logger.error({ tenantId: tenant.id, refused }, 'every channel refused the digest; its items stay queued');
        continue;
      }
      await deps.governance.clearDigest(tenant.id, items.map((i) => i.id));
      sent.push({ tenantId: tenant.id, items: items.length });
    } catch (err) {
      deps.logger.error({ err, tenantId: tenant.id }, 'the digest of this tenant failed; it is tried again at the next run');
    }
  }
  return sent;
}
