/**
 * A stand-in for the Azure Functions host, enough to run certops' registrations end to end:
 * it records what `registerStages` registers (the `app` it is given), then runs each Service Bus
 * topic trigger from a real receiver of the @azure/service-bus SDK, the way the host's binding
 * does with host.json's settings: peek-lock, the message's body to the handler with a fresh
 * InvocationContext, complete when the invocation succeeds, abandon when it throws (Service Bus
 * redelivers, then dead-letters after MaxDeliveryCount). Timers run when the test says.
 */
import { randomUUID } from 'node:crypto';
import { InvocationContext, type Timer } from '@azure/functions';
import type { ServiceBusClient, ServiceBusReceiver } from '@azure/service-bus';
import type { FunctionsApp } from '../../functions/register';

type TopicHandler = (message: unknown, context: InvocationContext) => Promise<void>;
type TimerHandler = (timer: Timer, context: InvocationContext) => Promise<void>;

export class FunctionsHostEmulator implements FunctionsApp {
  readonly timers = new Map<string, TimerHandler>();
  readonly topicTriggers: Array<{ name: string; connection: string; topicName: string; subscriptionName: string; handler: TopicHandler }> = [];
  readonly invocations: Array<{ functionName: string; outcome: 'succeeded' | 'failed'; error?: string }> = [];
  private readonly receivers: ServiceBusReceiver[] = [];
  private inFlight = 0;

  timer(name: string, options: { schedule: string; handler: TimerHandler }): void {
    this.timers.set(name, options.handler);
  }

  serviceBusTopic(name: string, options: { connection: string; topicName: string; subscriptionName: string; handler: TopicHandler }): void {
    this.topicTriggers.push({ name, ...options });
  }

  /** Starts one receiver per topic trigger (host.json: maxConcurrentCalls, auto-complete, lock renewal). */
  start(client: ServiceBusClient, options: { maxConcurrentCalls?: number } = {}): void {
    for (const trigger of this.topicTriggers) {
      const receiver = client.createReceiver(trigger.topicName, trigger.subscriptionName, { receiveMode: 'peekLock' });
      receiver.subscribe(
        {
          processMessage: async (message) => {
            this.inFlight++;
            try {
              await trigger.handler(message.body, this.context(trigger.name, { messageId: message.messageId, deliveryCount: message.deliveryCount }));
              this.invocations.push({ functionName: trigger.name, outcome: 'succeeded' });
            } catch (err) {
              this.invocations.push({ functionName: trigger.name, outcome: 'failed', error: err instanceof Error ? err.message : String(err) });
              throw err; // the SDK abandons the message, as the host does for a failed invocation
            } finally {
              this.inFlight--;
            }
          },
          processError: async () => undefined,
        },
        { autoCompleteMessages: true, maxConcurrentCalls: options.maxConcurrentCalls ?? 16 },
      );
      this.receivers.push(receiver);
    }
  }

  async runTimer(name: string): Promise<void> {
    const handler = this.timers.get(name);
    if (!handler) throw new Error(`no timer function ${name} was registered`);
    await handler({ isPastDue: false, schedule: { adjustForDST: false }, scheduleStatus: { last: '', next: '', lastUpdated: '' } }, this.context(name, {}));
  }

  /** Resolves once nothing is queued or locked on any trigger's subscription and no invocation runs, twice in a row. */
  async idle(pending: () => number, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let quiet = 0;
    while (quiet < 2) {
      if (Date.now() > deadline) throw new Error(`the functions host did not become idle within ${timeoutMs} ms (${pending()} messages pending, ${this.inFlight} running)`);
      await new Promise((resolve) => setTimeout(resolve, 50));
      quiet = pending() === 0 && this.inFlight === 0 ? quiet + 1 : 0;
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.receivers.splice(0).map((r) => r.close()));
  }

  private context(functionName: string, triggerMetadata: Record<string, unknown>): InvocationContext {
    return new InvocationContext({ invocationId: randomUUID(), functionName, triggerMetadata, logHandler: () => undefined });
  }
}
