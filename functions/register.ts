/**
 * Registers every stage of the topology as Azure Functions (v4 programming model): a timer
 * trigger for stages with a schedule, and one Service Bus topic trigger per consumed event type
 * (subscription = the stage's name). The functions are thin: they hand the message to the same
 * stage runner the embedded runtime uses, and publish what the stage emits.
 */
import type { InvocationContext, Timer } from '@azure/functions';
import { runStage } from '../shared/pipeline/stage-runner';
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
  for (const definition of STAGES) {
    const handler = STAGE_HANDLERS[definition.name];
    if (definition.timer) {
      const name = `${definition.name}-timer`;
      app.timer(name, {
        schedule: options.env[definition.timer.scheduleSetting] ?? definition.timer.schedule,
        handler: async (_timer, context) => {
          const { deps, bus } = await options.runtime();
          for (const request of sweepRequests(deps.tenants, deps.clock, { reason: 'schedule' })) {
            const outcome = await runStage(definition.name, handler, request, deps);
            if (outcome.kind === 'dead-letter') context.error(`sweep request for ${request.tenantid} failed: ${outcome.description}`);
            else await publishEvents(bus, outcome.emitted);
          }
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
          const { deps, bus } = await options.runtime();
          const outcome = await runStage(definition.name, handler, message, deps);
          if (outcome.kind === 'dead-letter') {
            // The trigger binding cannot dead-letter with a reason; failing the invocation makes
            // Service Bus redeliver up to maxDeliveryCount and then dead-letter it (settlement with
            // the reason comes with the Service Bus SDK binding, issue 5). Logged with the reason.
            context.error(`dead-lettering ${context.invocationId}: ${outcome.reason}: ${outcome.description}`);
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
