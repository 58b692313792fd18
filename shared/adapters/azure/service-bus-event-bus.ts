/**
 * ServiceBusEventBus: the EventBus port (ports/event-bus.ts) on Azure Service Bus topics and
 * subscriptions, through `@azure/service-bus`. The caller owns the ServiceBusClient (the
 * composition root builds it from a namespace and a TokenCredential, or a connection string
 * locally); this bus owns the senders and receivers it opens, and closes them in stop().
 *
 * - Publish: one sender per topic. Each event is one message whose `messageId` is the event id,
 *   the idempotency key: with duplicate detection on the topic (layout.ts), an event re-emitted by
 *   a redelivered stage within the window is dropped by Service Bus. `applicationProperties`
 *   carry `type`, `tenantid` and `subject` for subscription rules; `correlationId` the event's.
 *   Many events go out in as few batches as the link's maximum message size allows.
 * - Delivery: peek-lock, `receiver.subscribe` with `maxConcurrentCalls` = the subscription's
 *   concurrency and the SDK renewing locks while a handler runs (up to 5 minutes).
 * - Settlement: 'complete' completes; 'dead-letter' dead-letters with the reason and description;
 *   a throw abandons (Service Bus redelivers at once: it has no retry backoff), and on the last
 *   delivery (`maxDeliveryCount`, which must equal the subscription's) dead-letters with reason
 *   'MaxDeliveryCountExceeded' and the error as description, as the embedded bus does. A message
 *   whose lock expired repeatedly is dead-lettered by Service Bus itself with its own description.
 * - `deliveryCount` is 1 on the first delivery, as on the embedded bus: the AMQP header (and this
 *   SDK's `deliveryCount`) counts the deliveries before this one.
 *
 * Not here: a retry delay between deliveries (Service Bus redelivers an abandoned message at once;
 * maxDeliveryCount bounds the attempts), and the dead-letter topic of layout.ts (the Functions
 * path); deadLetters() reads the subscriptions' own dead-letter queues.
 */
import { randomUUID } from 'node:crypto';
import Long from 'long';
import type {
  ServiceBusClient,
  ServiceBusMessage,
  ServiceBusReceivedMessage,
  ServiceBusReceiver,
  ServiceBusSender,
} from '@azure/service-bus';
import { systemClock, type Clock } from '../../domain/clock';
import { errorMessage } from '../../domain/errors';
import type { CloudEvent } from '../../domain/events';
import type { DeadLetter, EventBus, MessageHandler, ReceivedMessage, Settlement } from '../../ports/event-bus';
import { DEFAULT_RETRY_BASE_DELAY_MS, DEFAULT_RETRY_MAX_DELAY_MS, retryDelayMs } from '../../domain/retry-backoff';
import { SERVICE_BUS_SUBSCRIPTION_SETTINGS } from './layout';

/** As the embedded bus: handlers run at once per subscription unless subscribe() says otherwise. */
export const DEFAULT_MAX_CONCURRENT_CALLS = 16;
/** As the SDK's default: a hung handler stops holding its message after 5 minutes. */
export const DEFAULT_MAX_AUTO_LOCK_RENEWAL_MS = 300_000;
/** idle() asks Service Bus this often; a peek is one management round trip per subscription. */
export const DEFAULT_IDLE_POLL_INTERVAL_MS = 20;
/** stop() waits this long for running handlers to settle (a lock duration, as the embedded bus). */
export const DEFAULT_STOP_TIMEOUT_MS = 30_000;
export const MAX_DELIVERY_COUNT_EXCEEDED = 'MaxDeliveryCountExceeded';
export const CLOUDEVENTS_CONTENT_TYPE = 'application/cloudevents+json';
/** Application property stamped when this bus dead-letters: Service Bus records no such time. */
export const DEAD_LETTERED_AT_PROPERTY = 'certopsDeadLetteredAt';
/** Dead-letter queues are read in pages of this many messages. */
const PEEK_PAGE = 250;

/** The subset of a pino logger the bus uses. */
export interface ServiceBusEventBusLogger {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface ServiceBusEventBusOptions {
  client: ServiceBusClient;
  /** Topics and their subscriptions (topology.ts): publish and subscribe refuse anything else. */
  routes: Array<{ topic: string; subscriptions: string[] }>;
  logger?: ServiceBusEventBusLogger;
  /** Handlers at once per subscription when subscribe() gives no concurrency. */
  maxConcurrentCalls?: number;
  /** Must equal the subscriptions' MaxDeliveryCount (layout.ts). */
  maxDeliveryCount?: number;
  /** Backoff before abandoning a failed message, as the embedded bus's (jittered, doubling, capped). */
  retryBaseDelayMs?: number;
  retryMaxDelayMs?: number;
  maxAutoLockRenewalDurationInMs?: number;
  idlePollIntervalInMs?: number;
  stopTimeoutInMs?: number;
  /** Stamps DEAD_LETTERED_AT_PROPERTY. */
  clock?: Clock;
}

interface Worker {
  topic: string;
  subscription: string;
  handler: MessageHandler;
  concurrency: number;
  receiver: ServiceBusReceiver | null;
  close: (() => Promise<void>) | null;
}

const silentLogger: ServiceBusEventBusLogger = { warn: () => undefined, error: () => undefined };

export class ServiceBusEventBus implements EventBus {
  private readonly client: ServiceBusClient;
  private readonly routes = new Map<string, string[]>();
  private readonly workers = new Map<string, Worker>();
  private readonly senders = new Map<string, ServiceBusSender>();
  private readonly peekers = new Map<string, ServiceBusReceiver>();
  private readonly logger: ServiceBusEventBusLogger;
  private readonly defaultConcurrency: number;
  private readonly maxDeliveryCount: number;
  private readonly retryBaseDelayMs: number;
  private readonly retryMaxDelayMs: number;
  private readonly maxAutoLockRenewalMs: number;
  private readonly idlePollMs: number;
  private readonly stopTimeoutMs: number;
  private readonly clock: Clock;
  private running = false;
  private inFlight = 0;

  constructor(options: ServiceBusEventBusOptions) {
    this.client = options.client;
    for (const route of options.routes) this.routes.set(route.topic, [...route.subscriptions]);
    this.logger = options.logger ?? silentLogger;
    this.defaultConcurrency = options.maxConcurrentCalls ?? DEFAULT_MAX_CONCURRENT_CALLS;
    this.maxDeliveryCount = options.maxDeliveryCount ?? SERVICE_BUS_SUBSCRIPTION_SETTINGS.maxDeliveryCount;
    this.retryBaseDelayMs = options.retryBaseDelayMs ?? DEFAULT_RETRY_BASE_DELAY_MS;
    this.retryMaxDelayMs = options.retryMaxDelayMs ?? DEFAULT_RETRY_MAX_DELAY_MS;
    this.maxAutoLockRenewalMs = options.maxAutoLockRenewalDurationInMs ?? DEFAULT_MAX_AUTO_LOCK_RENEWAL_MS;
    this.idlePollMs = options.idlePollIntervalInMs ?? DEFAULT_IDLE_POLL_INTERVAL_MS;
    this.stopTimeoutMs = options.stopTimeoutInMs ?? DEFAULT_STOP_TIMEOUT_MS;
    this.clock = options.clock ?? systemClock;
  }

  async publish(topic: string, events: CloudEvent[]): Promise<void> {
    await this.send(topic, events.map(toServiceBusMessage));
  }

  async publishRaw(topic: string, bodies: unknown[]): Promise<void> {
    await this.send(topic, bodies.map((body) => ({ body: body === undefined ? null : body, messageId: randomUUID() })));
  }

  subscribe(subscription: string, topic: string, handler: MessageHandler, options: { concurrency?: number } = {}): void {
    if (!this.routes.get(topic)?.includes(subscription)) {
      throw new Error(`subscription ${subscription} is not routed from topic ${topic}: add it to the topology's routes`);
    }
    const key = entityPath(topic, subscription);
    if (this.workers.has(key)) throw new Error(`subscription ${subscription} of ${topic} already has a handler`);
    const concurrency = options.concurrency ?? this.defaultConcurrency;
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new Error(`concurrency must be a positive integer, got ${concurrency}`);
    const worker: Worker = { topic, subscription, handler, concurrency, receiver: null, close: null };
    this.workers.set(key, worker);
    if (this.running) this.startWorker(worker);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    for (const worker of this.workers.values()) this.startWorker(worker);
  }

  /**
   * Stops receiving, lets running handlers settle (at most stopTimeoutInMs; the receive links stay
   * open until then), then closes every sender and receiver this bus opened. A handler still
   * running after that keeps its message locked until the lock expires; it is delivered again.
   */
  async stop(): Promise<void> {
    this.running = false;
    await Promise.all([...this.workers.values()].map(async (worker) => {
      await worker.close?.().catch((err: unknown) => this.logger.warn({ reason: errorMessage(err) }, 'closing a subscription failed'));
      worker.close = null;
    }));
    const deadline = Date.now() + this.stopTimeoutMs;
    while (this.inFlight > 0 && Date.now() < deadline) await sleep(this.idlePollMs);
    const links: Array<ServiceBusSender | ServiceBusReceiver> = [...this.senders.values(), ...this.peekers.values()];
    for (const worker of this.workers.values()) if (worker.receiver) links.push(worker.receiver);
    for (const worker of this.workers.values()) worker.receiver = null;
    this.senders.clear();
    this.peekers.clear();
    await Promise.all(links.map((link) => link.close().catch(() => undefined)));
  }

  /**
   * Resolves when no handler is running and no subscribed subscription holds an active, locked or
   * scheduled message (a peek from the first sequence number sees all three).
   */
  async idle(): Promise<void> {
    for (;;) {
      if (this.inFlight === 0 && !(await this.anyQueued()) && this.inFlight === 0) return;
      await sleep(this.idlePollMs);
    }
  }

  /** Every routed subscription's dead-letter queue, peeked (nothing is removed). */
  async deadLetters(): Promise<DeadLetter[]> {
    const found: DeadLetter[] = [];
    for (const [topic, subscriptions] of this.routes) {
      for (const subscription of subscriptions) {
        const receiver = this.peeker(topic, subscription, true);
        let from = Long.ZERO;
        for (;;) {
          const page = await receiver.peekMessages(PEEK_PAGE, { fromSequenceNumber: from });
          for (const message of page) found.push(toDeadLetter(topic, subscription, message));
          const last = page[page.length - 1]?.sequenceNumber;
          if (page.length < PEEK_PAGE || !last) break;
          from = last.add(1);
        }
      }
    }
    return found;
  }

  private async send(topic: string, messages: ServiceBusMessage[]): Promise<void> {
    if (!this.routes.has(topic)) throw new Error(`no route for topic ${topic}: add it to the topology's routes`);
    if (messages.length === 0) return;
    const sender = this.sender(topic);
    if (messages.length === 1) {
      await sender.sendMessages(messages[0]);
      return;
    }
    let batch = await sender.createMessageBatch();
    for (const message of messages) {
      if (batch.tryAddMessage(message)) continue;
      if (batch.count === 0) throw new Error(`message ${String(message.messageId)} is larger than ${batch.maxSizeInBytes} bytes, the most topic ${topic} accepts`);
      await sender.sendMessages(batch);
      batch = await sender.createMessageBatch();
      if (!batch.tryAddMessage(message)) throw new Error(`message ${String(message.messageId)} is larger than ${batch.maxSizeInBytes} bytes, the most topic ${topic} accepts`);
    }
    if (batch.count > 0) await sender.sendMessages(batch);
  }

  private sender(topic: string): ServiceBusSender {
    let sender = this.senders.get(topic);
    if (!sender) {
      sender = this.client.createSender(topic);
      this.senders.set(topic, sender);
    }
    return sender;
  }

  private peeker(topic: string, subscription: string, deadLetter: boolean): ServiceBusReceiver {
    const key = `${entityPath(topic, subscription)}${deadLetter ? '/$DeadLetterQueue' : ''}`;
    let receiver = this.peekers.get(key);
    if (!receiver) {
      receiver = this.client.createReceiver(topic, subscription, deadLetter ? { subQueueType: 'deadLetter' } : {});
      this.peekers.set(key, receiver);
    }
    return receiver;
  }

  private async anyQueued(): Promise<boolean> {
    const peeks = [...this.workers.values()].map((w) => this.peeker(w.topic, w.subscription, false).peekMessages(1, { fromSequenceNumber: Long.ZERO }));
    return (await Promise.all(peeks)).some((page) => page.length > 0);
  }

  private startWorker(worker: Worker): void {
    const receiver = this.client.createReceiver(worker.topic, worker.subscription, {
      receiveMode: 'peekLock',
      maxAutoLockRenewalDurationInMs: this.maxAutoLockRenewalMs,
    });
    worker.receiver = receiver;
    const subscription = receiver.subscribe(
      {
        processMessage: (message) => this.process(worker, receiver, message),
        processError: async (args) => {
          this.logger.error({ topic: worker.topic, subscription: worker.subscription, source: args.errorSource, reason: errorMessage(args.error) }, 'receiving failed; the SDK retries');
        },
      },
      { autoCompleteMessages: false, maxConcurrentCalls: worker.concurrency },
    );
    worker.close = () => subscription.close();
  }

  /** Never throws: every outcome is a settlement, and a settlement that fails leaves the lock to expire. */
  private async process(worker: Worker, receiver: ServiceBusReceiver, message: ServiceBusReceivedMessage): Promise<void> {
    this.inFlight += 1;
    const deliveryCount = message.deliveryCount === undefined ? 1 : message.deliveryCount + 1;
    const log = { topic: worker.topic, subscription: worker.subscription, messageId: String(message.messageId), deliveryCount };
    try {
      let outcome: Settlement | { kind: 'abandon'; reason: string };
      if (Buffer.isBuffer(message.body)) {
        // The SDK hands over bytes it could not parse as JSON: a foreign producer's malformed body.
        outcome = { kind: 'dead-letter', reason: 'MalformedBody', description: `the body is not JSON (${message.body.length} bytes)` };
      } else {
        outcome = await this.handle(worker, toReceivedMessage(worker, message, deliveryCount), deliveryCount, log);
      }
      if (outcome.kind === 'complete') await receiver.completeMessage(message);
      else if (outcome.kind === 'dead-letter') {
        await receiver.deadLetterMessage(message, {
          deadLetterReason: outcome.reason,
          deadLetterErrorDescription: outcome.description ?? '',
          [DEAD_LETTERED_AT_PROPERTY]: this.clock.now().toISOString(),
        });
      } else await receiver.abandonMessage(message);
    } catch (err) {
      this.logger.warn({ ...log, reason: errorMessage(err) }, 'settling failed (the lock was lost?); the message will be delivered again when its lock expires');
    } finally {
      this.inFlight -= 1;
    }
  }

  private async handle(
    worker: Worker,
    received: ReceivedMessage,
    deliveryCount: number,
    log: object,
  ): Promise<Settlement | { kind: 'abandon'; reason: string }> {
    let reason: string;
    try {
      const settlement = await worker.handler(received);
      if (settlement?.kind === 'complete' || settlement?.kind === 'dead-letter') return settlement;
      reason = `the handler returned no settlement (${JSON.stringify(settlement)})`;
    } catch (err) {
      reason = errorMessage(err);
    }
    if (deliveryCount >= this.maxDeliveryCount) {
      this.logger.warn({ ...log, reason }, 'handler failed on the last delivery; dead-lettering');
      return { kind: 'dead-letter', reason: MAX_DELIVERY_COUNT_EXCEEDED, description: reason };
    }
    // Service Bus redelivers an abandoned message at once: wait the same jittered backoff as the
    // embedded bus first (the SDK keeps renewing the lock), so a throttled CA or a lease held by
    // another worker does not burn every delivery within milliseconds.
    const delay = retryDelayMs(deliveryCount, this.retryBaseDelayMs, this.retryMaxDelayMs);
    this.logger.warn({ ...log, reason, retryInMs: delay }, 'handler failed; abandoning after a backoff, Service Bus will deliver it again');
    await new Promise((resolve) => setTimeout(resolve, delay));
    return { kind: 'abandon', reason };
  }
}

/** The wire shape of a CloudEvent (CloudEvents AMQP binding, structured mode). */
export function toServiceBusMessage(event: CloudEvent): ServiceBusMessage {
  const applicationProperties: Record<string, string> = { type: event.type, tenantid: event.tenantid };
  if (event.subject !== undefined) applicationProperties.subject = event.subject;
  return {
    messageId: event.id,
    contentType: CLOUDEVENTS_CONTENT_TYPE,
    correlationId: event.correlationid,
    applicationProperties,
    body: event,
  };
}

function toReceivedMessage(worker: Worker, message: ServiceBusReceivedMessage, deliveryCount: number): ReceivedMessage {
  return {
    id: String(message.messageId),
    topic: worker.topic,
    subscription: worker.subscription,
    body: message.body as unknown,
    deliveryCount,
    enqueuedAt: (message.enqueuedTimeUtc ?? new Date(0)).toISOString(),
  };
}

function toDeadLetter(topic: string, subscription: string, message: ServiceBusReceivedMessage): DeadLetter {
  const stamped = message.applicationProperties?.[DEAD_LETTERED_AT_PROPERTY];
  return {
    id: String(message.messageId),
    topic,
    subscription,
    body: Buffer.isBuffer(message.body) ? message.body.toString('utf8') : (message.body as unknown),
    reason: message.deadLetterReason ?? 'unknown',
    description: message.deadLetterErrorDescription || null,
    // A peeked message's count is of the deliveries made (none of them is this read).
    deliveryCount: message.deliveryCount ?? 0,
    deadLetteredAt: typeof stamped === 'string' ? stamped : (message.enqueuedTimeUtc ?? new Date(0)).toISOString(),
  };
}

function entityPath(topic: string, subscription: string): string {
  return `${topic}/Subscriptions/${subscription}`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
