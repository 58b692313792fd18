/**
 * The EventBus contract (shared/ports/event-bus.ts), written once and run against every adapter:
 * `eventBusContract('SqliteEventBus', target)`. A target makes "worlds": every bus made in one
 * world shares its storage (one SQLite file, one Service Bus namespace), so a message published by
 * one bus waits for another.
 *
 * Optional behaviour is declared, never silently skipped: an adapter that does not de-duplicate
 * message ids runs the opposite test (a re-published event is delivered again), which documents
 * why handlers must be idempotent.
 */
import { cloudEvent, type CloudEvent } from '../../shared/domain/events';
import type { EventBus, ReceivedMessage, Settlement } from '../../shared/ports/event-bus';

/** Two topics as the topology shapes them: one with two subscriptions, one with one. */
export const CONTRACT_ROUTES = [
  { topic: 'endpoint-discovered', subscriptions: ['analyze', 'inventory'] },
  { topic: 'certificate-analyzed', subscriptions: ['notify'] },
];
const DISCOVERED = CONTRACT_ROUTES[0].topic;
const ANALYZED = CONTRACT_ROUTES[1].topic;

export interface BusWorldOptions {
  /** Deliveries before a failing message is dead-lettered. */
  maxDeliveryCount: number;
}

export interface BusWorld {
  /** A new bus on the world's storage, routed by CONTRACT_ROUTES; the target stops it after the test. */
  aBus(): EventBus;
}

export interface EventBusContractTarget {
  world(options: BusWorldOptions): Promise<BusWorld>;
  /** Stops every bus and releases every world (called after each test). */
  cleanup(): Promise<void>;
  /** Does a second publish of an event id (within the adapter's window) get dropped? */
  deduplicatesMessageIds: boolean;
}

export function anEvent(n: number, overrides: Partial<Parameters<typeof cloudEvent>[0]> = {}): CloudEvent<{ n: number }> {
  return cloudEvent({
    id: `evt-${n}`,
    type: 'certops.endpoint.discovered.v1',
    source: '/certops/discover',
    time: new Date('2025-03-01T00:00:00.000Z'),
    tenantId: 'contoso',
    correlationId: `corr-${n}`,
    data: { n },
    ...overrides,
  }) as CloudEvent<{ n: number }>;
}

const complete: Settlement = { kind: 'complete' };

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Subscribes a handler that records the id of every message it completes, then starts the bus. */
export function collectIds(bus: EventBus, subscription = 'notify', topic = ANALYZED): string[] {
  const got: string[] = [];
  bus.subscribe(subscription, topic, async (m) => {
    got.push(m.id);
    return complete;
  });
  bus.start();
  return got;
}

export function eventBusContract(name: string, target: EventBusContractTarget): void {
  describe(`${name} (EventBus contract)`, () => {
    afterEach(() => target.cleanup());

    const aWorld = (options: Partial<BusWorldOptions> = {}) => target.world({ maxDeliveryCount: 5, ...options });

    it('When an event is published, then every subscription of its topic receives it once, and others do not', async () => {
      const bus = (await aWorld()).aBus();
      const seen: Record<string, ReceivedMessage[]> = { analyze: [], inventory: [], notify: [] };
      for (const [subscription, topic] of [['analyze', DISCOVERED], ['inventory', DISCOVERED], ['notify', ANALYZED]]) {
        bus.subscribe(subscription, topic, async (m) => {
          seen[subscription].push(m);
          return complete;
        });
      }
      bus.start();

      await bus.publish(DISCOVERED, [anEvent(1), anEvent(2)]);
      await bus.idle();

      for (const subscription of ['analyze', 'inventory']) {
        expect(seen[subscription].map((m) => m.id).sort()).toEqual(['evt-1', 'evt-2']);
        const first = seen[subscription].find((m) => m.id === 'evt-1')!;
        expect(first).toMatchObject({ topic: DISCOVERED, subscription, deliveryCount: 1, body: anEvent(1) });
        expect(new Date(first.enqueuedAt).toISOString()).toBe(first.enqueuedAt);
      }
      expect(seen.notify).toEqual([]);
    });

    it('When messages are published before any handler subscribes, then they wait and are delivered', async () => {
      const world = await aWorld();
      await world.aBus().publish(DISCOVERED, [anEvent(1)]);

      const later = world.aBus();
      const got = collectIds(later, 'analyze', DISCOVERED);
      await later.idle();
      expect(got).toEqual(['evt-1']);
    });

    it('When a topic has no route, then publish fails and names it', async () => {
      const bus = (await aWorld()).aBus();
      await expect(bus.publishRaw('certops-unknown', [{}])).rejects.toThrow(/no route for topic certops-unknown/);
    });

    it('When a handler subscribes to a subscription its topic does not route to, then subscribe fails', async () => {
      const bus = (await aWorld()).aBus();
      expect(() => bus.subscribe('notify', DISCOVERED, async () => complete)).toThrow(/not routed/);
    });

    it('When a handler fails once, then the message is delivered again and completes (at-least-once)', async () => {
      const bus = (await aWorld()).aBus();
      const counts: number[] = [];
      bus.subscribe('notify', ANALYZED, async (m) => {
        counts.push(m.deliveryCount);
        if (m.deliveryCount === 1) throw new Error('transient');
        return complete;
      });
      bus.start();

      await bus.publishRaw(ANALYZED, [{ hello: 'world' }]);
      await bus.idle();
      expect(counts).toEqual([1, 2]);
      expect(await bus.deadLetters()).toEqual([]);
    });

    it('When a handler dead-letters a message, then it is not retried and keeps the reason and description', async () => {
      const bus = (await aWorld()).aBus();
      let calls = 0;
      bus.subscribe('notify', ANALYZED, async () => {
        calls += 1;
        return { kind: 'dead-letter', reason: 'InvalidEvent', description: 'data.n must be a number' };
      });
      bus.start();

      await bus.publishRaw(ANALYZED, [{ n: 'x' }]);
      await bus.idle();
      expect(calls).toBe(1);
      expect(await bus.deadLetters()).toEqual([
        expect.objectContaining({
          topic: ANALYZED,
          subscription: 'notify',
          body: { n: 'x' },
          reason: 'InvalidEvent',
          description: 'data.n must be a number',
          deliveryCount: 1,
        }),
      ]);
    });

    it('When a handler keeps failing, then the message is dead-lettered after maxDeliveryCount with the last error', async () => {
      const bus = (await aWorld({ maxDeliveryCount: 3 })).aBus();
      const attempts: number[] = [];
      bus.subscribe('notify', ANALYZED, async (m) => {
        attempts.push(m.deliveryCount);
        throw new Error(`webhook answered 503 (attempt ${m.deliveryCount})`);
      });
      bus.start();

      await bus.publish(ANALYZED, [anEvent(7)]);
      await bus.idle();

      expect(attempts).toEqual([1, 2, 3]);
      expect(await bus.deadLetters()).toEqual([
        expect.objectContaining({
          id: 'evt-7',
          subscription: 'notify',
          body: anEvent(7),
          reason: 'MaxDeliveryCountExceeded',
          description: 'webhook answered 503 (attempt 3)',
          deliveryCount: 3,
        }),
      ]);
    });

    it('When a handler keeps failing, then its redeliveries are spaced by a backoff, not immediate', async () => {
      const bus = (await aWorld({ maxDeliveryCount: 4 })).aBus();
      const at: number[] = [];
      bus.subscribe('notify', ANALYZED, async () => {
        at.push(Date.now());
        throw new Error('the CA says: slow down');
      });
      bus.start();

      await bus.publish(ANALYZED, [anEvent(8)]);
      await bus.idle();

      expect(at).toHaveLength(4);
      // Jittered delays of up to 200, 400 and 800 ms (base 200): together well over 30 ms except
      // with a vanishing probability; a transport that redelivers at once takes a few ms.
      expect(at[3] - at[0]).toBeGreaterThan(30);
    });

    it('When a handler is still running, then idle() does not resolve until it settles', async () => {
      const bus = (await aWorld()).aBus();
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      let started = false;
      bus.subscribe('notify', ANALYZED, async () => {
        started = true;
        await gate;
        return complete;
      });
      bus.start();
      await bus.publishRaw(ANALYZED, ['x']);

      let idle = false;
      const waiting = bus.idle().then(() => (idle = true));
      await sleep(200);
      expect(started).toBe(true);
      expect(idle).toBe(false);
      release();
      await waiting;
      expect(idle).toBe(true);
    });

    it('When handlers are limited to a concurrency, then no more run at once, and all run', async () => {
      const bus = (await aWorld()).aBus();
      let running = 0;
      let peak = 0;
      let done = 0;
      bus.subscribe(
        'notify',
        ANALYZED,
        async () => {
          running += 1;
          peak = Math.max(peak, running);
          await sleep(5);
          running -= 1;
          done += 1;
          return complete;
        },
        { concurrency: 3 },
      );
      bus.start();
      await bus.publishRaw(ANALYZED, Array.from({ length: 30 }, (_, i) => i));
      await bus.idle();
      expect(peak).toBe(3);
      expect(done).toBe(30);
    });

    // Optional behaviour, declared by the target: either way one case runs and can fail.
    const duplicateCase = target.deduplicatesMessageIds
      ? { name: 'When one event id is published twice, then it is delivered once (duplicate detection)', expected: ['evt-1', 'evt-2'] }
      : {
          name: 'When one event id is published twice, then this adapter delivers it twice (it does not de-duplicate: handlers must be idempotent)',
          expected: ['evt-1', 'evt-1', 'evt-2'],
        };
    it(duplicateCase.name, async () => {
      const bus = (await aWorld()).aBus();
      const got = collectIds(bus);
      await bus.publish(ANALYZED, [anEvent(1)]);
      await bus.publish(ANALYZED, [anEvent(1), anEvent(2)]);
      await bus.idle();
      expect(got.sort()).toEqual(duplicateCase.expected);
    });
  });
}
