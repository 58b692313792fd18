/**
 * The Functions timer of the ingest stage publishes one sweep request per tenant onto the stage's
 * own topic instead of sweeping inline: a timer is never retried, so a transient failure of one
 * tenant's ingest must land in a Service Bus delivery (retried, then dead-lettered with its
 * reason), never cancel the other tenants' sweeps.
 */
import { InvocationContext } from '@azure/functions';
import { registerStages, type FunctionsApp, type FunctionsRuntime } from '../../functions/register';
import { ConfigTenantDirectory } from '../../shared/adapters/local/config-tenant-directory';
import { fixedClock } from '../../shared/domain/clock';
import type { CloudEvent } from '../../shared/domain/events';
import type { PipelineDeps } from '../../shared/pipeline/stage';
import { EVENT_TYPES, topicOf } from '../../shared/pipeline/topology';
import type { EventBus } from '../../shared/ports/event-bus';

it('When the sweep timer fires, then one sweep request per tenant is published to the ingest topic, and no stage runs inline', async () => {
  const tenant = (id: string) => ({ id, assignee: { name: 'A' }, endpoints: [{ host: `www.${id}.test`, port: 443 }] });
  const published: Array<{ topic: string; events: CloudEvent[] }> = [];
  const bus = { publish: async (topic: string, events: CloudEvent[]) => void published.push({ topic, events }) } as unknown as EventBus;
  // Any use of the store, the audit log or a prober would mean the stage ran inline: they throw.
  const forbidden = new Proxy({}, { get: () => () => Promise.reject(new Error('the timer must not run a stage')) });
  const deps = { tenants: new ConfigTenantDirectory([tenant('alpha'), tenant('beta')]), clock: fixedClock('2026-11-29T02:00:00Z'), store: forbidden, audit: forbidden, prober: forbidden } as unknown as PipelineDeps;
  const timers = new Map<string, (timer: unknown, context: InvocationContext) => Promise<void>>();
  const app: FunctionsApp = { timer: (name, o) => void timers.set(name, o.handler as never), serviceBusTopic: () => undefined };
  registerStages(app, { connection: 'CERTOPS_SERVICE_BUS', env: {}, runtime: async (): Promise<FunctionsRuntime> => ({ deps, bus }) });

  await timers.get('ingest-timer')!({}, new InvocationContext({ logHandler: () => undefined }));

  expect(published.map((p) => p.topic)).toEqual([topicOf(EVENT_TYPES.sweepRequested)]);
  expect(published[0].events.map((e) => [e.type, e.tenantid])).toEqual([
    [EVENT_TYPES.sweepRequested, 'alpha'],
    [EVENT_TYPES.sweepRequested, 'beta'],
  ]);
});
