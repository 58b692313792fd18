/**
 * SqliteEventBus: the embedded runtime's EventBus (ports/event-bus.ts), with Service Bus semantics
 * on one SQLite table.
 *
 * - Publish fans out from the ROUTES given at construction (topology.ts), not from the handlers
 *   subscribed so far: a message published before its handler registers (or before a restart)
 *   waits in its subscription's queue. One publish call is one transaction.
 * - Delivery: one worker loop per subscribed subscription locks a batch of visible rows
 *   (available_at <= now, no lock or an expired one) under a lock token, increments
 *   delivery_count, and runs the handler with bounded concurrency (peek-lock).
 * - Settlement: complete deletes the row; dead-letter moves it to bus_dead_letters with the
 *   reason; a throw abandons it (visible again after a backoff) until maxDeliveryCount, then
 *   dead-letters it as 'MaxDeliveryCountExceeded' with the error message as description.
 *   Settlements are batched into one transaction per event-loop turn, and every settlement is
 *   conditional on the lock token: a lock that expired and was taken by another receiver is not
 *   settled by the first (as Service Bus's MessageLockLostError; the message is redelivered).
 * - A crashed process leaves its rows locked; they become visible when locked_until passes.
 *   A live process renews the locks of its in-flight messages (as the Service Bus SDK's auto lock
 *   renewal does), up to MAX_LOCK_RENEWAL_MS.
 *
 * Time: visibility and locks use the wall clock (Date.now()), shared by every process on the file;
 * the injected Clock only stamps enqueuedAt and deadLetteredAt (tests may fix it). Polling uses
 * real timers.
 */
import { randomUUID } from 'node:crypto';
import type { Statement, Transaction } from 'better-sqlite3';
import { systemClock, type Clock } from '../../domain/clock';
import { errorMessage } from '../../domain/errors';
import type { CloudEvent } from '../../domain/events';
import type { DeadLetter, EventBus, MessageHandler, ReceivedMessage, Settlement } from '../../ports/event-bus';
import type { Database } from './sqlite-database';
import { DEFAULT_RETRY_BASE_DELAY_MS, DEFAULT_RETRY_MAX_DELAY_MS, retryDelayMs } from '../../domain/retry-backoff';

export { DEFAULT_RETRY_BASE_DELAY_MS, DEFAULT_RETRY_MAX_DELAY_MS, retryDelayMs } from '../../domain/retry-backoff';
/** As Service Bus's default MaxDeliveryCount is 10; certops' topology asks for 5. */
export const DEFAULT_MAX_DELIVERY_COUNT = 5;
/** As Service Bus's default lock duration (PT30S)... the maximum there is 5 minutes. */
export const DEFAULT_LOCK_DURATION_MS = 30_000;
/** An idle subscription is polled this often; a publish in this process wakes it at once. */
export const DEFAULT_POLL_INTERVAL_MS = 20;
/** Handlers run at once per subscription unless subscribe() says otherwise. */
export const DEFAULT_CONCURRENCY = 16;
/** As the Service Bus SDK's maxAutoLockRenewalDurationInMs default: a hung handler stops holding its message after 5 min. */
export const MAX_LOCK_RENEWAL_MS = 300_000;
/** Rows locked by one statement at most: bounds the time the write lock is held. */
const MAX_LOCK_BATCH = 256;
export const MAX_DELIVERY_COUNT_EXCEEDED = 'MaxDeliveryCountExceeded';

/** The subset of a pino logger the bus uses. */
export interface BusLogger {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface SqliteEventBusOptions {
  routes: Array<{ topic: string; subscriptions: string[] }>;
  clock?: Clock;
  maxDeliveryCount?: number;
  lockDurationMs?: number;
  retryBaseDelayMs?: number;
  retryMaxDelayMs?: number;
  pollIntervalMs?: number;
  logger?: BusLogger;
}

interface MessageRow {
  id: number;
  message_id: string;
  topic: string;
  subscription: string;
  body: string;
  enqueued_at: string;
  delivery_count: number;
  lock_token: string;
}

interface Worker {
  subscription: string;
  topic: string;
  handler: MessageHandler;
  concurrency: number;
  inFlight: number;
  wake: (() => void) | null;
  wakeScheduled: boolean;
  loop: Promise<void> | null;
}

type Outcome =
  | { kind: 'complete' }
  | { kind: 'dead-letter'; reason: string; description: string | null }
  | { kind: 'abandon'; availableAt: number };

interface PendingSettlement {
  row: MessageRow;
  token: string;
  outcome: Outcome;
}

interface Held {
  token: string;
  since: number;
}

const silentLogger: BusLogger = { warn: () => undefined, error: () => undefined };

export class SqliteEventBus implements EventBus {
  private readonly routes = new Map<string, string[]>();
  private readonly workers = new Map<string, Worker>();
  private readonly held = new Map<number, Held>();
  private readonly clock: Clock;
  private readonly maxDeliveryCount: number;
  private readonly lockDurationMs: number;
  private readonly retryBaseDelayMs: number;
  private readonly retryMaxDelayMs: number;
  private readonly pollIntervalMs: number;
  private readonly logger: BusLogger;
  private running = false;
  private inFlight = 0;
  private pending: PendingSettlement[] = [];
  private flushScheduled = false;
  private renewTimer: NodeJS.Timeout | null = null;

  private readonly insertMessage: Statement;
  private readonly lockRows: Statement;
  private readonly deleteLocked: Statement;
  private readonly copyToDeadLetters: Statement;
  private readonly unlock: Statement;
  private readonly renewLock: Statement;
  private readonly anyQueued: Statement;
  private readonly selectDeadLetters: Statement;
  private readonly insertMany: (rows: Array<[string, string, string, string, string, number]>) => void;
  private readonly settleMany: Transaction<(settlements: PendingSettlement[]) => void>;
  private readonly flushAndLock: (subscription: string, limit: number) => MessageRow[];

  constructor(
    private readonly db: Database,
    options: SqliteEventBusOptions,
  ) {
    for (const route of options.routes) this.routes.set(route.topic, [...route.subscriptions]);
    this.clock = options.clock ?? systemClock;
    this.maxDeliveryCount = options.maxDeliveryCount ?? DEFAULT_MAX_DELIVERY_COUNT;
    this.lockDurationMs = options.lockDurationMs ?? DEFAULT_LOCK_DURATION_MS;
    this.retryBaseDelayMs = options.retryBaseDelayMs ?? DEFAULT_RETRY_BASE_DELAY_MS;
    this.retryMaxDelayMs = options.retryMaxDelayMs ?? DEFAULT_RETRY_MAX_DELAY_MS;
    this.pollIntervalMs = options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
    this.logger = options.logger ?? silentLogger;

    this.insertMessage = db.prepare(
      `INSERT INTO bus_messages (message_id, topic, subscription, body, enqueued_at, available_at)
       VALUES (?, ?, ?, ?, ?, ?)`,
    );
    this.lockRows = db.prepare(
      `UPDATE bus_messages SET lock_token = ?, locked_until = ?, delivery_count = delivery_count + 1
       WHERE id IN (
         SELECT id FROM bus_messages
         WHERE subscription = ? AND available_at <= ? AND (locked_until IS NULL OR locked_until <= ?)
         ORDER BY available_at LIMIT ?)
       RETURNING id, message_id, topic, subscription, body, enqueued_at, delivery_count, lock_token`,
    );
    this.deleteLocked = db.prepare('DELETE FROM bus_messages WHERE id = ? AND lock_token = ?');
    this.copyToDeadLetters = db.prepare(
      `INSERT INTO bus_dead_letters (message_id, topic, subscription, body, reason, description, delivery_count, dead_lettered_at)
       SELECT message_id, topic, subscription, body, ?, ?, delivery_count, ? FROM bus_messages
       WHERE id = ? AND lock_token = ?`,
    );
    this.unlock = db.prepare(
      'UPDATE bus_messages SET lock_token = NULL, locked_until = NULL, available_at = ? WHERE id = ? AND lock_token = ?',
    );
    this.renewLock = db.prepare('UPDATE bus_messages SET locked_until = ? WHERE id = ? AND lock_token = ?');
    this.anyQueued = db.prepare('SELECT 1 FROM bus_messages WHERE subscription = ? LIMIT 1');
    this.selectDeadLetters = db.prepare('SELECT * FROM bus_dead_letters ORDER BY id');

    this.insertMany = db.transaction((rows: Array<[string, string, string, string, string, number]>) => {
      for (const row of rows) this.insertMessage.run(...row);
    });
    this.settleMany = db.transaction((settlements: PendingSettlement[]) => {
      for (const settlement of settlements) this.applySettlement(settlement);
    });
    const flushAndLock = db.transaction((subscription: string, limit: number) => {
      this.flushInTransaction();
      const now = Date.now();
      const rows = this.lockRows.all(randomUUID(), now + this.lockDurationMs, subscription, now, now, limit) as MessageRow[];
      return rows.sort((a, b) => a.id - b.id);
    });
    // IMMEDIATE: take the write lock before reading which rows are visible (WAL snapshot rules).
    this.flushAndLock = (subscription, limit) => flushAndLock.immediate(subscription, limit);
  }

  async publish(topic: string, events: CloudEvent[]): Promise<void> {
    this.enqueue(topic, events.map((event) => ({ id: event.id, body: event })));
  }

  async publishRaw(topic: string, bodies: unknown[]): Promise<void> {
    this.enqueue(topic, bodies.map((body) => ({ id: randomUUID(), body })));
  }

  subscribe(subscription: string, topic: string, handler: MessageHandler, options: { concurrency?: number } = {}): void {
    const subscriptions = this.routes.get(topic);
    if (!subscriptions?.includes(subscription)) {
      throw new Error(`subscription ${subscription} is not routed from topic ${topic}: add it to the topology's routes`);
    }
    if (this.workers.has(subscription)) throw new Error(`subscription ${subscription} already has a handler`);
    const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new Error(`concurrency must be a positive integer, got ${concurrency}`);
    const worker: Worker = { subscription, topic, handler, concurrency, inFlight: 0, wake: null, wakeScheduled: false, loop: null };
    this.workers.set(subscription, worker);
    if (this.running) worker.loop = this.runWorker(worker);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    for (const worker of this.workers.values()) worker.loop = this.runWorker(worker);
    this.renewTimer = setInterval(() => this.renewHeldLocks(), Math.max(10, Math.floor(this.lockDurationMs / 2)));
  }

  /**
   * Stops locking new messages, waits for the loops to end and for in-flight handlers to settle
   * (at most one lock duration: a handler still running after that keeps its message locked until
   * the lock expires, and the message is delivered again), then writes pending settlements.
   */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    if (this.renewTimer) clearInterval(this.renewTimer);
    this.renewTimer = null;
    for (const worker of this.workers.values()) worker.wake?.();
    await Promise.all([...this.workers.values()].map((worker) => worker.loop));
    const deadline = Date.now() + this.lockDurationMs;
    while (this.inFlight > 0 && Date.now() < deadline) await sleep(this.pollIntervalMs);
    this.flush();
  }

  async idle(): Promise<void> {
    for (;;) {
      this.flush();
      if (this.inFlight === 0 && this.pending.length === 0 && !this.hasQueuedMessages()) return;
      await sleep(this.pollIntervalMs);
    }
  }

  async deadLetters(): Promise<DeadLetter[]> {
    const rows = this.selectDeadLetters.all() as Array<{
      message_id: string;
      topic: string;
      subscription: string;
      body: string;
      reason: string;
      description: string | null;
      delivery_count: number;
      dead_lettered_at: string;
    }>;
    return rows.map((row) => ({
      id: row.message_id,
      topic: row.topic,
      subscription: row.subscription,
      body: JSON.parse(row.body) as unknown,
      reason: row.reason,
      description: row.description,
      deliveryCount: row.delivery_count,
      deadLetteredAt: row.dead_lettered_at,
    }));
  }

  private enqueue(topic: string, messages: Array<{ id: string; body: unknown }>): void {
    const subscriptions = this.routes.get(topic);
    if (!subscriptions) throw new Error(`no route for topic ${topic}: add it to the topology's routes`);
    const enqueuedAt = this.clock.now().toISOString();
    const availableAt = Date.now();
    const rows: Array<[string, string, string, string, string, number]> = [];
    for (const message of messages) {
      const body = JSON.stringify(message.body === undefined ? null : message.body);
      for (const subscription of subscriptions) rows.push([message.id, topic, subscription, body, enqueuedAt, availableAt]);
    }
    if (rows.length === 0) return;
    this.insertMany(rows);
    for (const subscription of subscriptions) this.workers.get(subscription)?.wake?.();
  }

  private async runWorker(worker: Worker): Promise<void> {
    while (this.running) {
      const free = worker.concurrency - worker.inFlight;
      if (free <= 0) {
        await this.waitForWake(worker, null);
        continue;
      }
      let rows: MessageRow[];
      try {
        rows = this.flushAndLock(worker.subscription, Math.min(free, MAX_LOCK_BATCH));
      } catch (err) {
        this.logger.error({ subscription: worker.subscription, reason: errorMessage(err) }, 'locking messages failed; retrying');
        await this.waitForWake(worker, this.pollIntervalMs);
        continue;
      }
      if (rows.length === 0) {
        await this.waitForWake(worker, this.pollIntervalMs);
        continue;
      }
      for (const row of rows) this.dispatch(worker, row);
      // Let the handlers start (and the fast ones finish) before locking the next batch.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  private waitForWake(worker: Worker, timeoutMs: number | null): Promise<void> {
    return new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | null = null;
      worker.wake = () => {
        worker.wake = null;
        if (timer) clearTimeout(timer);
        resolve();
      };
      if (timeoutMs !== null) timer = setTimeout(() => worker.wake?.(), timeoutMs);
    });
  }

  private dispatch(worker: Worker, row: MessageRow): void {
    const token = row.lock_token;
    if (row.delivery_count > this.maxDeliveryCount) {
      // Every earlier delivery ended in an expired lock (a hung handler or a dead process).
      this.queueSettlement(row, token, {
        kind: 'dead-letter',
        reason: MAX_DELIVERY_COUNT_EXCEEDED,
        description: `the lock expired ${row.delivery_count - 1} times without a settlement (a handler hung or its process died)`,
      });
      return;
    }
    worker.inFlight += 1;
    this.inFlight += 1;
    this.held.set(row.id, { token, since: Date.now() });
    let message: ReceivedMessage;
    try {
      message = {
        id: row.message_id,
        topic: row.topic,
        subscription: row.subscription,
        body: JSON.parse(row.body) as unknown,
        deliveryCount: row.delivery_count,
        enqueuedAt: row.enqueued_at,
      };
    } catch (err) {
      this.finish(worker, row, token, { kind: 'dead-letter', reason: 'MalformedBody', description: errorMessage(err) });
      return;
    }
    Promise.resolve()
      .then(() => worker.handler(message))
      .then(
        (settlement) => this.finish(worker, row, token, this.outcomeOf(settlement, row)),
        (err: unknown) => this.finish(worker, row, token, this.failureOutcome(worker, row, err)),
      );
  }

  private outcomeOf(settlement: Settlement, row: MessageRow): Outcome {
    if (settlement?.kind === 'complete') return { kind: 'complete' };
    if (settlement?.kind === 'dead-letter') {
      return { kind: 'dead-letter', reason: settlement.reason, description: settlement.description ?? null };
    }
    return this.failureOutcome(null, row, new Error(`the handler returned no settlement (${JSON.stringify(settlement)})`));
  }

  private failureOutcome(worker: Worker | null, row: MessageRow, err: unknown): Outcome {
    const description = errorMessage(err);
    if (row.delivery_count >= this.maxDeliveryCount) {
      this.logger.warn(
        { subscription: row.subscription, messageId: row.message_id, deliveryCount: row.delivery_count, reason: description },
        'handler failed on the last delivery; dead-lettering',
      );
      return { kind: 'dead-letter', reason: MAX_DELIVERY_COUNT_EXCEEDED, description };
    }
    const delay = retryDelayMs(row.delivery_count, this.retryBaseDelayMs, this.retryMaxDelayMs);
    this.logger.warn(
      { subscription: worker?.subscription ?? row.subscription, messageId: row.message_id, deliveryCount: row.delivery_count, retryInMs: delay, reason: description },
      'handler failed; the message will be delivered again',
    );
    return { kind: 'abandon', availableAt: Date.now() + delay };
  }

  private finish(worker: Worker, row: MessageRow, token: string, outcome: Outcome): void {
    worker.inFlight -= 1;
    this.inFlight -= 1;
    this.held.delete(row.id);
    this.queueSettlement(row, token, outcome);
    if (!worker.wakeScheduled) {
      // Wake the loop after this turn: every handler that finishes in the same turn frees its slot
      // first, so the next lock takes a batch, not one row.
      worker.wakeScheduled = true;
      setImmediate(() => {
        worker.wakeScheduled = false;
        worker.wake?.();
      });
    }
  }

  private queueSettlement(row: MessageRow, token: string, outcome: Outcome): void {
    this.pending.push({ row, token, outcome });
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    if (this.pending.length === 0) return;
    if (!this.db.open) {
      // The file was closed under us: locks expire and the messages are delivered again.
      this.pending = [];
      return;
    }
    try {
      const batch = this.pending;
      this.pending = [];
      this.settleMany.immediate(batch);
    } catch (err) {
      this.logger.error({ reason: errorMessage(err) }, 'settling messages failed; their locks will expire and they will be delivered again');
    }
  }

  /** Runs inside the lock transaction: one write transaction per worker turn. */
  private flushInTransaction(): void {
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    for (const settlement of batch) this.applySettlement(settlement);
  }

  private applySettlement({ row, token, outcome }: PendingSettlement): void {
    let changes: number;
    switch (outcome.kind) {
      case 'complete':
        changes = this.deleteLocked.run(row.id, token).changes;
        break;
      case 'dead-letter':
        changes = this.copyToDeadLetters.run(outcome.reason, outcome.description, this.clock.now().toISOString(), row.id, token).changes;
        if (changes > 0) this.deleteLocked.run(row.id, token);
        break;
      case 'abandon':
        changes = this.unlock.run(outcome.availableAt, row.id, token).changes;
        break;
    }
    if (changes === 0) {
      this.logger.warn(
        { subscription: row.subscription, messageId: row.message_id, settlement: outcome.kind },
        'the lock was lost before settlement (it expired); the message will be delivered again',
      );
    }
  }

  private renewHeldLocks(): void {
    if (this.held.size === 0 || !this.db.open) return;
    const now = Date.now();
    try {
      this.db.transaction(() => {
        for (const [id, held] of this.held) {
          if (now - held.since < MAX_LOCK_RENEWAL_MS) this.renewLock.run(now + this.lockDurationMs, id, held.token);
        }
      }).immediate();
    } catch (err) {
      this.logger.error({ reason: errorMessage(err) }, 'renewing message locks failed');
    }
  }

  private hasQueuedMessages(): boolean {
    for (const subscription of this.workers.keys()) if (this.anyQueued.get(subscription)) return true;
    return false;
  }

}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
