/**
 * Starting a sweep: one `certops.sweep.requested.v1` per tenant (a sweep is always scoped to one
 * tenant; the timer and the CLI fan out). Used by the timer trigger of the ingest stage on every
 * transport and by `certops run`.
 */
import { randomUUID } from 'node:crypto';
import { cloudEvent, type CloudEvent } from '../domain/events';
import type { Clock } from '../domain/clock';
import type { TenantDirectory } from '../ports/tenant-directory';
import type { SweepRequested } from './event-data';
import { EVENT_TYPES } from './topology';

export function sweepRequests(
  tenants: TenantDirectory,
  clock: Clock,
  options: { reason: string; tenantIds?: string[]; sweepId?: string },
): CloudEvent<SweepRequested>[] {
  const sweepId = options.sweepId ?? `sweep-${clock.now().toISOString().replace(/[:.]/g, '')}-${randomUUID().slice(0, 8)}`;
  const wanted = options.tenantIds?.length ? options.tenantIds : tenants.list().map((t) => t.id);
  return wanted.map((tenantId) =>
    cloudEvent({
      id: `${sweepId}:${tenantId}`,
      type: EVENT_TYPES.sweepRequested,
      source: '/certops/scheduler',
      time: clock.now(),
      tenantId,
      correlationId: `${sweepId}:${tenantId}`,
      data: { sweepId, reason: options.reason },
    }),
  );
}
