/**
 * ServiceBusBroker: a small AMQP 1.0 broker on `rhea` that the real `@azure/service-bus` SDK talks
 * to over loopback (plain TCP, `UseDevelopmentEmulator=true`). Test support only.
 *
 * What it speaks, as Service Bus does:
 * - SASL ANONYMOUS and PLAIN (any credentials); CBS `put-token` on `$cbs`, answered 202 and recorded;
 * - topics with subscriptions: senders attach to `topic`, receivers to `topic/Subscriptions/sub`
 *   and to its dead-letter sub-queue `topic/Subscriptions/sub/$DeadLetterQueue`;
 * - peek-lock: the delivery tag is the lock token (in .NET GUID byte order, as the SDK reads it);
 *   accepted completes, released/modified abandons (delivery count + 1, visible again at once),
 *   rejected dead-letters with `DeadLetterReason`/`DeadLetterErrorDescription` from the error info;
 *   every settlement is answered settled (the SDK's peek-lock receivers use rcv-settle-mode second,
 *   and wait up to 60 s for that answer); a lock that expired answers `com.microsoft:message-lock-lost`;
 * - receive-and-delete (snd-settle-mode settled): a message leaves its queue when sent;
 * - lock expiry; `maxDeliveryCount`, then dead-letter with reason `MaxDeliveryCountExceeded`;
 * - scheduled messages (`x-opt-scheduled-enqueue-time`, or `com.microsoft:schedule-message` and
 *   `cancel-scheduled-message` on `$management`);
 * - `$management`: `renew-lock`, `peek-message`, `update-disposition` (settling when the link is gone);
 * - duplicate detection per topic: a second message with a `message_id` seen within the window is
 *   accepted and dropped;
 * - batches (message format 0x80013700, one data section per encoded message).
 *
 * Not supported: sessions, deferral, rules/filters (every subscription gets every message), TTL
 * expiry, transactions, queues without a topic, auto-forwarding, message size limits beyond
 * advertising `max_message_size`, and authorization (every token is accepted).
 */
import { randomUUID } from 'node:crypto';
import type { AddressInfo, Server } from 'node:net';
import { create_container, message as amqp, type Connection, type Delivery, type EventContext, type Message, type Receiver, type Sender } from 'rhea';

export interface BrokerTopic {
  topic: string;
  subscriptions: string[];
}

export interface ServiceBusBrokerOptions {
  topics: BrokerTopic[];
  /** Service Bus' default is 30 s; tests use far less. */
  lockDurationMs?: number;
  /** Service Bus' default is 10. */
  maxDeliveryCount?: number;
  /** 0 turns duplicate detection off. Service Bus' default window is 10 minutes. */
  duplicateDetectionWindowMs?: number;
  /** Advertised on every link (createMessageBatch needs it): Standard tier's 256 KiB. */
  maxMessageSize?: number;
}

export interface QueueCounts {
  /** Visible now and not locked. */
  active: number;
  locked: number;
  scheduled: number;
  deadLettered: number;
}

/** A CBS put-token request as received (the token itself is kept for assertions, never logged). */
export interface PutToken {
  audience: string;
  tokenType: string;
  token: string;
}

/** A message as a sender put it on the wire. */
export interface WireMessage {
  topic: string;
  messageId: unknown;
  contentType: string | undefined;
  correlationId: unknown;
  applicationProperties: Record<string, unknown>;
  /** A data section's bytes (how the SDK sends JSON and Buffers), else the AMQP value. */
  body: unknown;
}

interface Stored {
  sequenceNumber: number;
  message: Message;
  enqueuedAt: number;
  visibleAt: number;
  /** Deliveries so far; the AMQP header carries the count before this delivery (0 first). */
  deliveryCount: number;
  lock: { token: string; until: number } | null;
}

interface Queue {
  path: string;
  messages: Stored[];
  consumers: Sender[];
  /** The dead-letter sub-queue of a subscription; null for a dead-letter queue itself. */
  deadLetters: Queue | null;
}

type Disposition = 'complete' | 'abandon' | 'deadletter';
interface DispositionOptions {
  reason?: string;
  description?: string;
  properties?: Record<string, unknown>;
}

const BATCH_FORMAT = 0x80013700;
const LOCK_LOST = 'com.microsoft:message-lock-lost';
const TICK_MS = 10;
type Described = { described(): unknown };
const outcomes = amqp as unknown as { accepted(): Described; released(): Described; rejected(fields?: object): Described };
/** The state a settled answer carries: the outcome applied, or rejected with why not (the SDK rejects on `error`). */
const SETTLED_STATE: Record<Disposition, () => unknown> = {
  complete: () => outcomes.accepted().described(),
  abandon: () => outcomes.released().described(),
  deadletter: () => outcomes.rejected({}).described(),
};

export class ServiceBusBroker {
  readonly putTokens: PutToken[] = [];
  readonly published: WireMessage[] = [];
  /** AMQP transfers received on topic links (a batch is one). */
  transfers = 0;
  /** `$management` operations received, in order (e.g. `com.microsoft:renew-lock`). */
  readonly managementOperations: string[] = [];
  private readonly queues = new Map<string, Queue>();
  private readonly topics = new Map<string, { queues: Queue[]; seen: Map<string, number> }>();
  private readonly locks = new Map<string, { queue: Queue; stored: Stored }>();
  private readonly replyLinks = new WeakMap<Connection, Map<string, Sender>>();
  private readonly connections = new Set<Connection>();
  private readonly lockDurationMs: number;
  private readonly maxDeliveryCount: number;
  private readonly duplicateWindowMs: number;
  private readonly maxMessageSize: number;
  private nextSequenceNumber = 1;
  private ticker: NodeJS.Timeout | null = null;
  private server: Server | null = null;

  private constructor(options: ServiceBusBrokerOptions) {
    this.lockDurationMs = options.lockDurationMs ?? 30_000;
    this.maxDeliveryCount = options.maxDeliveryCount ?? 10;
    this.duplicateWindowMs = options.duplicateDetectionWindowMs ?? 600_000;
    this.maxMessageSize = options.maxMessageSize ?? 256 * 1024;
    for (const { topic, subscriptions } of options.topics) {
      const queues = subscriptions.map((name) => {
        const path = `${topic}/Subscriptions/${name}`;
        const deadLetters: Queue = { path: `${path}/$DeadLetterQueue`, messages: [], consumers: [], deadLetters: null };
        const queue: Queue = { path, messages: [], consumers: [], deadLetters };
        this.queues.set(path.toLowerCase(), queue);
        this.queues.set(deadLetters.path.toLowerCase(), deadLetters);
        return queue;
      });
      this.topics.set(topic.toLowerCase(), { queues, seen: new Map() });
    }
  }

  /** Listens on 127.0.0.1, port 0. */
  static async start(options: ServiceBusBrokerOptions): Promise<ServiceBusBroker> {
    const broker = new ServiceBusBroker(options);
    await broker.listen();
    return broker;
  }

  get port(): number {
    return (this.server?.address() as AddressInfo).port;
  }

  /** For `new ServiceBusClient(connectionString)`: plain AMQP on loopback, SAS credentials that any value satisfies. */
  get connectionString(): string {
    return `Endpoint=sb://127.0.0.1:${this.port};SharedAccessKeyName=x;SharedAccessKey=y;UseDevelopmentEmulator=true`;
  }

  counts(topic: string, subscription: string): QueueCounts {
    const queue = this.queue(`${topic}/Subscriptions/${subscription}`);
    const now = Date.now();
    const counts: QueueCounts = { active: 0, locked: 0, scheduled: 0, deadLettered: queue.deadLetters?.messages.length ?? 0 };
    for (const stored of queue.messages) {
      if (stored.lock) counts.locked += 1;
      else if (stored.visibleAt > now) counts.scheduled += 1;
      else counts.active += 1;
    }
    return counts;
  }

  async close(): Promise<void> {
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = null;
    for (const connection of this.connections) connection.close();
    const server = this.server;
    if (!server) return;
    this.server = null;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      // Sockets the clients keep open would hold close() forever.
      setTimeout(resolve, 200).unref();
    });
  }

  private async listen(): Promise<void> {
    const container = create_container({ id: 'certops-test-service-bus', autoaccept: false, treat_modified_as_released: false });
    container.sasl_server_mechanisms.enable_anonymous();
    container.sasl_server_mechanisms.enable_plain(() => true);
    container.on('connection_open', (context: EventContext) => this.connections.add(context.connection));
    container.on('disconnected', (context: EventContext) => this.forget(context.connection));
    container.on('connection_close', (context: EventContext) => this.forget(context.connection));
    container.on('error', () => undefined);
    container.on('receiver_open', (context: EventContext) => this.onReceiverOpen(context.receiver!));
    container.on('sender_open', (context: EventContext) => this.onSenderOpen(context.connection, context.sender!));
    container.on('sender_close', (context: EventContext) => this.dropConsumer(context.sender!));
    container.on('sendable', (context: EventContext) => this.pumpFor(context.sender!));
    // The SDK drains a receiver's credit when it stops receiving and waits for the answer (200 ms):
    // hand out what is visible, then give the rest of the credit back.
    container.on('sender_draining', (context: EventContext) => {
      this.pumpFor(context.sender!);
      context.sender!.set_drained(true);
    });
    container.on('message', (context: EventContext) => this.onMessage(context));
    container.on('accepted', (context: EventContext) => this.onOutcome(context.delivery!, 'complete'));
    container.on('released', (context: EventContext) => this.onOutcome(context.delivery!, 'abandon'));
    container.on('modified', (context: EventContext) => this.onModified(context.delivery!));
    container.on('rejected', (context: EventContext) => this.onRejected(context.delivery!));
    const server = container.listen({ host: '127.0.0.1', port: 0 });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('listening', resolve);
      server.once('error', reject);
    });
    this.ticker = setInterval(() => this.tick(), TICK_MS);
    this.ticker.unref();
  }

  // ---- links ----------------------------------------------------------------------------------

  /** A client sender: to a topic, `$cbs`, or an entity's `$management` node. */
  private onReceiverOpen(receiver: Receiver): void {
    const address = String(receiver.target?.address ?? '');
    receiver.set_target({ address });
    localAttach(receiver).max_message_size = this.maxMessageSize;
    if (!isControlNode(address) && !this.topics.has(address.toLowerCase())) {
      receiver.close({ condition: 'amqp:not-found', description: `The messaging entity '${address}' could not be found.` });
    }
  }

  /** A client receiver: from a subscription (or its dead-letter queue), or the reply end of `$cbs`/`$management`. */
  private onSenderOpen(connection: Connection, sender: Sender): void {
    const address = String(sender.source?.address ?? '');
    const attach = localAttach(sender);
    attach.snd_settle_mode = sender.snd_settle_mode;
    attach.rcv_settle_mode = sender.rcv_settle_mode;
    attach.max_message_size = this.maxMessageSize;
    sender.set_source({ address });
    sender.set_target({ address: sender.target?.address });
    if (isControlNode(address)) {
      // Replies go to the link named by `reply_to` (its target address); the CBS client attaches
      // without one, so the node's address finds it too.
      const links = this.replyLinks.get(connection) ?? new Map<string, Sender>();
      if (sender.target?.address) links.set(String(sender.target.address), sender);
      links.set(`node:${address}`, sender);
      this.replyLinks.set(connection, links);
      return;
    }
    const queue = this.queues.get(address.toLowerCase());
    if (!queue) {
      sender.close({ condition: 'amqp:not-found', description: `The messaging entity '${address}' could not be found.` });
      return;
    }
    queue.consumers.push(sender);
  }

  private dropConsumer(sender: Sender): void {
    for (const queue of this.queues.values()) queue.consumers = queue.consumers.filter((s) => s !== sender);
  }

  private forget(connection: Connection): void {
    this.connections.delete(connection);
    // Locks held through this connection stay until they expire, as in Service Bus.
    for (const queue of this.queues.values()) queue.consumers = queue.consumers.filter((s) => s.connection !== connection);
  }

  // ---- incoming messages ----------------------------------------------------------------------

  private onMessage(context: EventContext): void {
    const receiver = context.receiver!;
    const delivery = context.delivery!;
    const address = String(receiver.target?.address ?? '');
    try {
      if (address === '$cbs') this.onPutToken(context.connection, context.message!);
      else if (address.endsWith('/$management')) this.onManagement(context.connection, address, context.message!);
      else {
        this.transfers += 1;
        const format = (context as { format?: number }).format;
        const messages = format === BATCH_FORMAT ? unbatch(context.message as unknown as Buffer) : [context.message!];
        for (const message of messages) this.enqueue(address, message);
      }
      delivery.accept();
    } catch (err) {
      delivery.reject({ condition: 'amqp:internal-error', description: (err as Error).message });
    }
  }

  private enqueue(topicName: string, message: Message, scheduledAt?: number): number {
    const topic = this.topics.get(topicName.toLowerCase());
    if (!topic) throw new Error(`no topic ${topicName}`);
    const now = Date.now();
    this.published.push({
      topic: topicName,
      messageId: message.message_id,
      contentType: message.content_type,
      correlationId: message.correlation_id,
      applicationProperties: { ...(message.application_properties ?? {}) },
      body: bodyBytes(message.body),
    });
    const sequenceNumber = this.nextSequenceNumber++;
    if (message.message_id !== undefined && this.duplicateWindowMs > 0) {
      const key = String(message.message_id);
      const seenAt = topic.seen.get(key);
      if (seenAt !== undefined && now - seenAt < this.duplicateWindowMs) return sequenceNumber;
      topic.seen.set(key, now);
    }
    const annotated = message.message_annotations?.['x-opt-scheduled-enqueue-time'];
    const visibleAt = scheduledAt ?? (annotated !== undefined ? new Date(annotated as Date).getTime() : now);
    for (const queue of topic.queues) {
      queue.messages.push({ sequenceNumber, message, enqueuedAt: now, visibleAt, deliveryCount: 0, lock: null });
      this.pump(queue);
    }
    return sequenceNumber;
  }

  private onPutToken(connection: Connection, request: Message): void {
    const properties = request.application_properties ?? {};
    this.putTokens.push({ audience: String(properties.name), tokenType: String(properties.type), token: String(request.body) });
    this.reply(connection, '$cbs', request, 202, {});
  }

  // ---- $management ----------------------------------------------------------------------------

  private onManagement(connection: Connection, node: string, request: Message): void {
    const entity = node.slice(0, -'/$management'.length);
    const operation = String(request.application_properties?.operation);
    this.managementOperations.push(operation);
    const body = (request.body ?? {}) as Record<string, unknown>;
    switch (operation) {
      case 'com.microsoft:renew-lock': {
        const expirations: Date[] = [];
        for (const token of lockTokens(body['lock-tokens'])) {
          const held = this.heldLock(token);
          if (!held) return this.reply(connection, node, request, 410, {}, LOCK_LOST, `The lock ${token} was lost.`);
          held.stored.lock!.until = Date.now() + this.lockDurationMs;
          expirations.push(new Date(held.stored.lock!.until));
        }
        return this.reply(connection, node, request, 200, { expirations });
      }
      case 'com.microsoft:update-disposition': {
        const status = String(body['disposition-status']);
        const disposition: Disposition | undefined = ({ completed: 'complete', abandoned: 'abandon', suspended: 'deadletter' } as const)[status as 'completed'];
        if (!disposition) return this.reply(connection, node, request, 501, {}, 'amqp:not-implemented', `disposition ${status} is not supported`);
        for (const token of lockTokens(body['lock-tokens'])) {
          const lost = this.settle(token, disposition, {
            reason: body['deadletter-reason'] as string | undefined,
            description: body['deadletter-description'] as string | undefined,
            properties: body['properties-to-modify'] as Record<string, unknown> | undefined,
          });
          if (lost) return this.reply(connection, node, request, 410, {}, LOCK_LOST, lost);
        }
        return this.reply(connection, node, request, 200, {});
      }
      case 'com.microsoft:peek-message': {
        const queue = this.queue(entity);
        const from = toNumber(body['from-sequence-number']);
        const count = toNumber(body['message-count']);
        const now = Date.now();
        const found = queue.messages.filter((s) => s.sequenceNumber >= from).slice(0, count);
        if (found.length === 0) return this.reply(connection, node, request, 204, {});
        const messages = found.map((s) => ({ message: amqp.encode(this.wire(s, { 'x-opt-message-state': s.visibleAt > now ? 2 : 0 })) }));
        return this.reply(connection, node, request, 200, { messages });
      }
      case 'com.microsoft:schedule-message': {
        const sequenceNumbers: number[] = [];
        for (const entry of (body.messages ?? []) as Array<{ message: Buffer }>) {
          const message = decode(entry.message);
          const at = message.message_annotations?.['x-opt-scheduled-enqueue-time'];
          sequenceNumbers.push(this.enqueue(entity, message, at !== undefined ? new Date(at as Date).getTime() : undefined));
        }
        return this.reply(connection, node, request, 200, { 'sequence-numbers': sequenceNumbers });
      }
      case 'com.microsoft:cancel-scheduled-message': {
        const cancelled = new Set(((body['sequence-numbers'] ?? []) as unknown[]).map(toNumber));
        for (const queue of this.topics.get(entity.toLowerCase())?.queues ?? []) {
          queue.messages = queue.messages.filter((s) => !(cancelled.has(s.sequenceNumber) && s.visibleAt > Date.now()));
        }
        return this.reply(connection, node, request, 200, {});
      }
      default:
        return this.reply(connection, node, request, 501, {}, 'amqp:not-implemented', `${operation} is not supported by the test broker`);
    }
  }

  private reply(connection: Connection, node: string, request: Message, status: number, body: object, condition?: string, description?: string): void {
    const replyTo = String(request.reply_to);
    const links = this.replyLinks.get(connection);
    const link = links?.get(replyTo) ?? links?.get(`node:${node}`);
    if (!link) return;
    // $management answers in camelCase (the SDK reads `statusCode` to spot 204), CBS in kebab-case.
    const properties: Record<string, unknown> = { statusCode: status, statusDescription: description ?? 'OK', 'status-code': status, 'status-description': description ?? 'OK' };
    if (condition) properties.errorCondition = properties['error-condition'] = condition;
    link.send({ to: replyTo, correlation_id: request.message_id, application_properties: properties, body });
  }

  // ---- delivery and settlement ----------------------------------------------------------------

  private pumpFor(sender: Sender): void {
    for (const queue of this.queues.values()) if (queue.consumers.includes(sender)) this.pump(queue);
  }

  /** Hands visible, unlocked messages to the consumers with credit, round robin. */
  private pump(queue: Queue): void {
    const now = Date.now();
    let progress = true;
    while (progress) {
      progress = false;
      for (const consumer of queue.consumers) {
        if (!consumer.sendable()) continue;
        const stored = queue.messages.find((s) => !s.lock && s.visibleAt <= now);
        if (!stored) return;
        this.deliver(queue, consumer, stored);
        progress = true;
      }
    }
  }

  private deliver(queue: Queue, consumer: Sender, stored: Stored): void {
    const receiveAndDelete = consumer.snd_settle_mode === 1;
    const token = randomUUID();
    if (receiveAndDelete) queue.messages = queue.messages.filter((s) => s !== stored);
    else {
      stored.lock = { token, until: Date.now() + this.lockDurationMs };
      this.locks.set(token, { queue, stored });
    }
    const wire = this.wire(stored, receiveAndDelete ? {} : { 'x-opt-locked-until': new Date(stored.lock!.until) });
    stored.deliveryCount += 1;
    consumer.send(wire, lockTokenTag(token));
  }

  /** The message as the broker hands it out: Service Bus' annotations, the delivery count so far. */
  private wire(stored: Stored, annotations: Record<string, unknown>): Message {
    return {
      ...stored.message,
      delivery_count: stored.deliveryCount,
      message_annotations: {
        ...(stored.message.message_annotations ?? {}),
        'x-opt-sequence-number': stored.sequenceNumber,
        'x-opt-enqueued-time': new Date(stored.enqueuedAt),
        ...annotations,
      },
    } as Message;
  }

  private onOutcome(delivery: Delivery, disposition: Disposition, options: DispositionOptions = {}): void {
    const lost = this.settle(tokenOfTag(delivery.tag), disposition, options);
    delivery.update(true, lost ? outcomes.rejected({ error: { condition: LOCK_LOST, description: lost } }).described() : SETTLED_STATE[disposition]());
  }

  private onModified(delivery: Delivery): void {
    const state = (delivery.remote_state ?? {}) as { undeliverable_here?: boolean; message_annotations?: Record<string, unknown> };
    if (state.undeliverable_here) {
      // The SDK's defer(): not supported here.
      delivery.update(true, outcomes.rejected({ error: { condition: 'amqp:not-implemented', description: 'deferral is not supported by the test broker' } }).described());
      return;
    }
    this.onOutcome(delivery, 'abandon', { properties: state.message_annotations });
  }

  private onRejected(delivery: Delivery): void {
    const error = ((delivery.remote_state ?? {}) as { error?: { condition?: string; description?: string; info?: Record<string, unknown> } }).error;
    const { DeadLetterReason, DeadLetterErrorDescription, ...properties } = error?.info ?? {};
    this.onOutcome(delivery, 'deadletter', {
      reason: (DeadLetterReason as string | undefined) ?? error?.condition,
      description: (DeadLetterErrorDescription as string | undefined) ?? error?.description,
      properties,
    });
  }

  /** Settles the message under the lock; returns why not when the lock is no longer held. */
  private settle(token: string, disposition: Disposition, options: DispositionOptions): string | null {
    const held = this.heldLock(token);
    if (!held) return `The lock supplied is invalid. Either the lock expired, or the message has already been removed from the queue (lock token ${token}).`;
    const { queue, stored } = held;
    this.locks.delete(token);
    stored.lock = null;
    if (options.properties && Object.keys(options.properties).length > 0) {
      stored.message = { ...stored.message, application_properties: { ...(stored.message.application_properties ?? {}), ...options.properties } } as Message;
    }
    if (disposition === 'complete') this.remove(queue, stored);
    else if (disposition === 'deadletter') this.deadLetter(queue, stored, options.reason, options.description);
    else this.abandon(queue, stored);
    this.pump(queue);
    return null;
  }

  private abandon(queue: Queue, stored: Stored): void {
    if (queue.deadLetters && stored.deliveryCount >= this.maxDeliveryCount) {
      this.deadLetter(queue, stored, 'MaxDeliveryCountExceeded', `Message could not be consumed after ${stored.deliveryCount} delivery attempts.`);
    }
  }

  private deadLetter(queue: Queue, stored: Stored, reason: string | undefined, description: string | undefined): void {
    this.remove(queue, stored);
    const target = queue.deadLetters;
    if (!target) return; // dead-lettering from a dead-letter queue removes the message
    const applicationProperties: Record<string, unknown> = { ...(stored.message.application_properties ?? {}) };
    if (reason !== undefined) applicationProperties.DeadLetterReason = reason;
    if (description !== undefined) applicationProperties.DeadLetterErrorDescription = description;
    const message = {
      ...stored.message,
      application_properties: applicationProperties,
      message_annotations: { ...(stored.message.message_annotations ?? {}), 'x-opt-deadletter-source': queue.path.split('/').pop() },
    } as Message;
    target.messages.push({ ...stored, message, visibleAt: Date.now(), lock: null });
  }

  private remove(queue: Queue, stored: Stored): void {
    queue.messages = queue.messages.filter((s) => s !== stored);
  }

  private heldLock(token: string): { queue: Queue; stored: Stored } | null {
    const held = this.locks.get(token);
    if (!held || held.stored.lock?.token !== token || held.stored.lock.until <= Date.now()) return null;
    return held;
  }

  /** Expires locks (a lost lock counts as a failed delivery), then delivers what became visible. */
  private tick(): void {
    const now = Date.now();
    for (const [token, { queue, stored }] of this.locks) {
      if (stored.lock?.token === token && stored.lock.until > now) continue;
      this.locks.delete(token);
      if (stored.lock?.token !== token) continue;
      stored.lock = null;
      this.abandon(queue, stored);
    }
    for (const queue of this.queues.values()) if (queue.consumers.length > 0) this.pump(queue);
  }

  private queue(path: string): Queue {
    const queue = this.queues.get(path.toLowerCase());
    if (!queue) throw new Error(`the test broker has no entity ${path}`);
    return queue;
  }
}

/** The attach frame rhea will answer with; rhea's typings do not expose it. */
function localAttach(link: Sender | Receiver): Record<string, unknown> {
  return (link as unknown as { local: { attach: Record<string, unknown> } }).local.attach;
}

function isControlNode(address: string): boolean {
  return address === '$cbs' || address.endsWith('/$management');
}

/** A batch is one AMQP message whose data sections are the encoded messages. */
function unbatch(raw: Buffer): Message[] {
  const envelope = decode(raw);
  const body = envelope.body as { multiple?: boolean; content: Buffer | Buffer[] };
  const parts = body.multiple ? (body.content as Buffer[]) : [body.content as Buffer];
  return parts.map(decode);
}

function bodyBytes(body: unknown): unknown {
  const section = body as { typecode?: number; multiple?: boolean; content?: Buffer | Buffer[] } | undefined;
  if (section?.typecode !== 0x75 || section.content === undefined) return body;
  return Array.isArray(section.content) ? Buffer.concat(section.content) : section.content;
}

/** .NET's Guid byte order (first three groups reversed): what the SDK expects in a delivery tag. */
function dotNetOrder(bytes: Buffer): Buffer {
  return Buffer.from([bytes[3], bytes[2], bytes[1], bytes[0], bytes[5], bytes[4], bytes[7], bytes[6], ...bytes.subarray(8, 16)]);
}

function lockTokenTag(token: string): Buffer {
  return dotNetOrder(Buffer.from(token.replace(/-/g, ''), 'hex'));
}

function tokenOfTag(tag: Buffer | string): string {
  return uuidString(dotNetOrder(typeof tag === 'string' ? Buffer.from(tag) : tag));
}

function uuidString(bytes: Buffer): string {
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** `lock-tokens` arrive as an AMQP array of uuids (16-byte buffers). */
function lockTokens(value: unknown): string[] {
  const list = Array.isArray(value) ? value : value === undefined ? [] : [value];
  return list.map((t) => (Buffer.isBuffer(t) ? uuidString(t) : String(t)));
}

function toNumber(value: unknown): number {
  if (typeof value === 'number') return value;
  if (Buffer.isBuffer(value)) return Number(value.readBigInt64BE());
  if (value && typeof (value as { toNumber?: unknown }).toNumber === 'function') return (value as { toNumber(): number }).toNumber();
  return Number(value);
}

/** rhea's typings declare two Message types; decode() returns the one the links do not take. */
function decode(bytes: Buffer): Message {
  return amqp.decode(bytes) as unknown as Message;
}
