/**
 * The pipeline on one machine: every stage of the topology subscribed to its topics on the
 * embedded bus, running the very same handlers (through the same runner) that the Azure
 * Functions entry points call. Emitted events are published before the input is settled, so a
 * crash in between re-runs the (idempotent) handler rather than losing its output.
 */
import type { CloudEvent } from '../domain/events';
import type { EventBus, Settlement } from '../ports/event-bus';
import type { PipelineDeps } from './stage';
import { runStage, type StageOutcome } from './stage-runner';
import { STAGE_HANDLERS } from './stages';
import { routes, STAGES, topicOf, type EventType, type StageName } from './topology';
import { sweepRequests } from './sweep';
import { signAuditHeads } from './audit-heads';
import { JOBS, type JobName } from './jobs';
import { onDemandRenewal, runOverride, type OnDemandOverride, type OnDemandRenewal } from './on-demand';

export async function publishEvents(bus: EventBus, events: CloudEvent[]): Promise<void> {
  const byTopic = new Map<string, CloudEvent[]>();
  for (const e of events) {
    const topic = topicOf(e.type as EventType);
    const batch = byTopic.get(topic);
    if (batch) batch.push(e);
    else byTopic.set(topic, [e]);
  }
  for (const [topic, batch] of byTopic) await bus.publish(topic, batch);
}

/**
 * The embedded bus names a subscription globally, Service Bus per topic: on one machine the
 * stage's subscription on a topic is `<stage>@<topic>`.
 */
export function embeddedSubscription(stageName: StageName, topic: string): string {
  return `${stageName}@${topic}`;
}

/** The bus routes of the topology, with embedded subscription names. */
export function embeddedRoutes(): Array<{ topic: string; subscriptions: string[] }> {
  return routes().map((r) => ({ topic: r.topic, subscriptions: r.subscriptions.map((s) => embeddedSubscription(s, r.topic)) }));
}

/** What the pipeline needs of a scheduler (the embedded one is adapters/local/scheduler.ts). */
export interface JobScheduler {
  schedule(name: string, ncrontab: string, job: () => Promise<void>): void;
}

export class EmbeddedPipeline {
  constructor(
    readonly deps: PipelineDeps,
    readonly bus: EventBus,
    private readonly observer: (stage: StageName, outcome: StageOutcome['kind']) => void = () => {},
  ) {
    for (const definition of STAGES) {
      for (const type of definition.consumes) {
        this.bus.subscribe(
          embeddedSubscription(definition.name, topicOf(type)),
          topicOf(type),
          async (message): Promise<Settlement> => {
            const outcome = await runStage(definition.name, STAGE_HANDLERS[definition.name], message.body, this.deps);
            this.observer(definition.name, outcome.kind);
            if (outcome.kind === 'dead-letter') return { kind: 'dead-letter', reason: outcome.reason, description: outcome.description };
            await publishEvents(this.bus, outcome.emitted);
            return { kind: 'complete' };
          },
          { concurrency: definition.name === 'discover' ? deps.discovery.concurrency : definition.concurrency },
        );
      }
    }
  }

  start(): void {
    this.bus.start();
  }

  /**
   * Puts every timer of the topology on the scheduler: a tick publishes one sweep request per
   * tenant (the Functions timer trigger does the same through the ingest handler).
   */
  schedule(scheduler: JobScheduler, schedules: Partial<Record<StageName | JobName, string>> = {}): void {
    for (const job of JOBS) {
      scheduler.schedule(job.name, schedules[job.name] ?? job.defaultSchedule, async () => {
        this.deps.logger.info({ job: job.name }, await job.run(this.deps));
      });
    }
    for (const definition of STAGES) {
      if (!definition.timer) continue;
      scheduler.schedule(`${definition.name}-timer`, schedules[definition.name] ?? definition.timer.schedule, async () => {
        await publishEvents(this.bus, sweepRequests(this.deps.tenants, this.deps.clock, { reason: 'schedule' }));
      });
    }
  }

  /** Requests a sweep of the given tenants (all when none) and waits until the pipeline is idle. */
  async sweep(options: { reason: string; tenantIds?: string[] }): Promise<{ sweepId: string }> {
    const requests = sweepRequests(this.deps.tenants, this.deps.clock, options);
    await publishEvents(this.bus, requests);
    await this.bus.idle();
    await signAuditHeads(this.deps); // a finished sweep leaves every chain's head signed
    return { sweepId: requests[0]?.data.sweepId ?? 'empty' };
  }

  /**
   * Renews one managed certificate now (an operator's request): the request passes the gate and
   * the rotation engine as a scheduled renewal does. Waits until the pipeline is idle.
   */
  async requestRenewal(request: OnDemandRenewal): Promise<{ sweepId: string }> {
    const event = await onDemandRenewal(this.deps, request);
    await publishEvents(this.bus, [event]);
    await this.bus.idle();
    return { sweepId: event.data.sweepId };
  }

  /** Undoes the certificate's last committed rotation (a human override); waits until notified. */
  async override(request: OnDemandOverride): Promise<void> {
    await publishEvents(this.bus, await runOverride(this.deps, request));
    await this.bus.idle();
  }

  async stop(): Promise<void> {
    await this.bus.stop();
  }
}
