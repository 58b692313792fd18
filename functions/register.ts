/**
 * Registers every stage of the topology as Azure Functions (v4 programming model): a timer
 * trigger for stages with a schedule, and one Service Bus topic trigger per consumed event type
 * (subscription = the stage's name). The functions are thin: they hand the message to the same
 * stage runner the embedded runtime uses, and publish what the stage emits.
 */
import type { InvocationContext, Timer } from '@azure/functions';
import { DEFAULT_RETRY_BASE_DELAY_MS, DEFAULT_RETRY_MAX_DELAY_MS, retryDelayMs } from '../shared/domain/retry-backoff';
import { runStage } from '../shared/pipeline/stage-runner';
import { JOBS } from '../shared/pipeline/jobs';
import { STAGE_HANDLERS } from '../shared/pipeline/stages';
import { sweepRequests } from '../shared/pipeline/sweep';
import { publishEvents } from '../shared/pipeline/embedded-pipeline';
import { STAGES, topicOf } from '../shared/pipeline/topology';
import type { PipelineDeps } from '../shared/pipeline/stage';
import type { EventBus } from '../shared/ports/event-bus';

/** The subset of `@azure/functions`' `app` used here (so tests can pass a recorder). */
export interface FunctionsApp {
  timer(name: string, options: { schedule: string; handler: (timer: Timer, context: InvocationContext) => Promise<void> }): void;
  serviceBusTopic(
    name: string,
    options: {
      connection: string;
      topicName: string;
      subscriptionName: string;
      handler: (message: unknown, context: InvocationContext) => Promise<void>;
    },
  ): void;
}

export interface FunctionsRuntime {
  deps: PipelineDeps;
  bus: EventBus;
  /**
   * Records a refused message with its reason (the Azure runtime: on the dead-letter topic), so
   * the invocation can complete instead of failing into a reasonless dead letter. Absent on the
   * embedded fallback, where the invocation fails and Service Bus dead-letters after its count.
   */
  deadLetter?(entry: { topic: string; subscription: string; reason: string; description: string; body: unknown }): Promise<void>;
}

export interface RegistrationOptions {
  /** App setting holding the Service Bus connection. */
  connection: string;
  /** Schedule overrides by the topology's `scheduleSetting`. */
  env: NodeJS.ProcessEnv;
  runtime: () => Promise<FunctionsRuntime>;
}

export class DeadLetteredError extends Error {
  constructor(readonly reason: string, readonly description: string) {
    super(`${reason}: ${description}`);
    this.name = 'DeadLetteredError';
  }
}

export function registerStages(app: FunctionsApp, options: RegistrationOptions): string[] {
  const names: string[] = [];
  // The jobs that are not stages (digest, audit heads, approval expiry): one timer each.
  for (const job of JOBS) {
    app.timer(`${job.name}-timer`, {
      schedule: job.defaultSchedule,
      handler: async (_timer, context) => {
        const { deps } = await options.runtime();
        context.log(await job.run(deps));
      },
    });
    names.push(`${job.name}-timer`);
  }
  for (const definition of STAGES) {
    const handler = STAGE_HANDLERS[definition.name];
    if (definition.timer) {
      const name = `${definition.name}-timer`;
      app.timer(name, {
        schedule: options.env[definition.timer.scheduleSetting] ?? definition.timer.schedule,
        handler: async (_timer, context) => {
          // One sweep request per tenant onto the stage's own topic: each tenant then gets the
          // Service Bus trigger's retries and dead-lettering (a timer is never retried, so one
          // tenant's transient failure here must not cancel the others' sweeps).
          const { deps, bus } = await options.runtime();
          const requests = sweepRequests(deps.tenants, deps.clock, { reason: 'schedule' });
          await publishEvents(bus, requests);
          context.log(`${requests.length} sweep requests published`);
        },
      });
      names.push(name);
    }
    for (const type of definition.consumes) {
      const topic = topicOf(type);
      const name = `${definition.name}-on-${topic}`;
      app.serviceBusTopic(name, {
        connection: options.connection,
        topicName: topic,
        subscriptionName: definition.name,
        handler: async (message, context) => {
          const runtime = await options.runtime();
          const { deps, bus } = runtime;
          let outcome: Awaited<ReturnType<typeof runStage>>;
          try {
            outcome = await runStage(definition.name, handler, message, deps);
          } catch (err) {
            // A transient failure: the binding abandons the message and Service Bus delivers it
            // again at once. Wait the embedded bus's backoff first (the host renews the lock).
            const deliveryCount = Number(context.triggerMetadata?.deliveryCount ?? 1);
            await new Promise((resolve) => setTimeout(resolve, retryDelayMs(deliveryCount, DEFAULT_RETRY_BASE_DELAY_MS, DEFAULT_RETRY_MAX_DELAY_MS)));
            throw err;
          }
          if (outcome.kind === 'dead-letter') {
            context.error(`dead-lettering ${context.invocationId}: ${outcome.reason}: ${outcome.description}`);
            // The Node trigger binding settles by the invocation's result (explicit settlement
            // through SDK-type bindings is a preview): the message is recorded with its reason on
            // the dead-letter topic, and the invocation completes. Without that topic, failing
            // makes Service Bus redeliver up to maxDeliveryCount, then dead-letter it (no reason).
            if (runtime.deadLetter) {
              await runtime.deadLetter({ topic, subscription: definition.name, reason: outcome.reason, description: outcome.description, body: message });
              return;
            }
            throw new DeadLetteredError(outcome.reason, outcome.description);
          }
          await publishEvents(bus, outcome.emitted);
        },
      });
      names.push(name);
    }
  }
  return names;
}
