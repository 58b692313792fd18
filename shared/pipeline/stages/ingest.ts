/**
 * Ingest: observes a tenant's sweep request (a timer tick or an on-demand request) and decides
 * what to look at: one discovery request per configured endpoint. Later, connector data (PSA,
 * RMM, Graph) and events from other zones add endpoints here.
 *
 * Idempotency key: `<sweepId>:<endpointId>` is the id of each discovery request, so a redelivered
 * sweep request produces the same message ids (Service Bus duplicate detection drops them).
 */
import { PermanentError } from '../../domain/errors';
import type { CloudEvent } from '../../domain/events';
import { endpointRef } from '../endpoints';
import type { DiscoveryRequested, SweepRequested } from '../event-data';
import type { StageContext } from '../stage';
import { EVENT_TYPES } from '../topology';

export async function ingest(event: CloudEvent, ctx: StageContext): Promise<CloudEvent[]> {
  const { sweepId, reason } = event.data as SweepRequested;
  const tenant = ctx.deps.tenants.get(ctx.tenantId);
  if (!tenant) {
    throw new PermanentError(`sweep ${sweepId} names tenant ${ctx.tenantId}, which is not configured; add it or drop the request`);
  }
  const seen = new Set<string>();
  const out: CloudEvent[] = [];
  for (const endpoint of tenant.endpoints) {
    const ref = endpointRef(endpoint);
    if (seen.has(ref.endpointId)) continue; // the same endpoint listed twice is looked at once
    seen.add(ref.endpointId);
    const data: DiscoveryRequested = { sweepId, endpoint: ref };
    out.push(ctx.emit(EVENT_TYPES.discoveryRequested, data, { id: `${sweepId}:${ref.endpointId}`, subject: ref.endpointId }));
  }
  ctx.log.info({ sweepId, reason, endpoints: out.length }, 'sweep ingested');
  await ctx.audit('sweep.ingested', { sweepId, reason, endpoints: out.length });
  return out;
}
