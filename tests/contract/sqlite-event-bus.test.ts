import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { cloudEvent } from '../../shared/domain/events';
import { fixedClock } from '../../shared/domain/clock';
import { closeDatabase, openDatabase, type Database } from '../../shared/adapters/local/sqlite-database';
import { SqliteEventBus, retryDelayMs, type SqliteEventBusOptions } from '../../shared/adapters/local/sqlite-event-bus';
import type { ReceivedMessage, Settlement } from '../../shared/ports/event-bus';

const ROUTES = [
  { topic: 'certops.endpoint.discovered', subscriptions: ['analyze', 'inventory'] },
  { topic: 'certops.certificate.analyzed', subscriptions: ['notify'] },
];

function anEvent(n: number) {
  return cloudEvent({
    id: `evt-${n}`,
    type: 'certops.endpoint.discovered.v1',
    source: '/certops/discover',
    time: new Date('2025-03-01T00:00:00.000Z'),
    tenantId: 'contoso',
    correlationId: `corr-${n}`,
    data: { n },
  });
}

const complete: Settlement = { kind: 'complete' };

describe('SqliteEventBus', () => {
  let dir: string;
  let dbPath: string;
  const dbs: Database[] = [];
  const buses: SqliteEventBus[] = [];
  const cleanups: Array<() => void> = [];

  function aBus(options: Partial<SqliteEventBusOptions> = {}): SqliteEventBus {
    const db = openDatabase(dbPath);
    dbs.push(db);
    const bus = new SqliteEventBus(db, { routes: ROUTES, clock: fixedClock('2025-03-01T00:00:00.000Z'), pollIntervalMs: 5, ...options });
    buses.push(bus);
    return bus;
  }

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certops-bus-'));
    dbPath = path.join(dir, 'certops.db');
  });
  afterEach(async () => {
    jest.restoreAllMocks();
    for (const cleanup of cleanups.splice(0)) cleanup();
    for (const bus of buses.splice(0)) await bus.stop();
    for (const db of dbs.splice(0)) closeDatabase(db);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('When an event is published, then every subscription of its topic receives it, and others do not', async () => {
    const bus = aBus();
    const seen: Record<string, ReceivedMessage[]> = { analyze: [], inventory: [], notify: [] };
    for (const [subscription, topic] of [['analyze', ROUTES[0].topic], ['inventory', ROUTES[0].topic], ['notify', ROUTES[1].topic]]) {
      bus.subscribe(subscription, topic, async (m) => {
        seen[subscription].push(m);
        return complete;
      });
    }
    bus.start();

    await bus.publish('certops.endpoint.discovered', [anEvent(1), anEvent(2)]);
    await bus.idle();

    for (const subscription of ['analyze', 'inventory']) {
      expect(seen[subscription].map((m) => m.id).sort()).toEqual(['evt-1', 'evt-2']);
      expect(seen[subscription][0]).toMatchObject({ topic: 'certops.endpoint.discovered', subscription, deliveryCount: 1, enqueuedAt: '2025-03-01T00:00:00.000Z' });
    }
    expect(seen.analyze.find((m) => m.id === 'evt-1')?.body).toEqual(anEvent(1));
    expect(seen.notify).toEqual([]);
  });

  it('When messages are published before any handler subscribes (or before a restart), then they wait and are delivered', async () => {
    await aBus().publish('certops.endpoint.discovered', [anEvent(1)]);

    const later = aBus();
    const got: string[] = [];
    later.subscribe('analyze', 'certops.endpoint.discovered', async (m) => {
      got.push(m.id);
      return complete;
    });
    later.start();
    await later.idle();
    expect(got).toEqual(['evt-1']);
  });

  it('When a topic has no route, then publish fails and names it', async () => {
    await expect(aBus().publishRaw('certops.unknown', [{}])).rejects.toThrow(/no route for topic certops.unknown/);
  });

  it('When a handler subscribes to a subscription its topic does not route to, then subscribe fails', () => {
    expect(() => aBus().subscribe('notify', 'certops.endpoint.discovered', async () => complete)).toThrow(/not routed/);
  });

  it('When a handler keeps failing, then the message is retried with backoff and dead-lettered after maxDeliveryCount', async () => {
    const bus = aBus({ maxDeliveryCount: 4, retryBaseDelayMs: 40, retryMaxDelayMs: 40 });
    const attempts: Array<{ count: number; at: number }> = [];
    bus.subscribe('notify', 'certops.certificate.analyzed', async (m) => {
      attempts.push({ count: m.deliveryCount, at: Date.now() });
      throw new Error(`webhook answered 503 (attempt ${m.deliveryCount})`);
    });
    bus.start();

    jest.spyOn(Math, 'random').mockReturnValue(0.999); // the longest jittered delay: 39 ms
    await bus.publishRaw('certops.certificate.analyzed', [{ hello: 'world' }]);
    await bus.idle();
    jest.restoreAllMocks();

    expect(attempts.map((a) => a.count)).toEqual([1, 2, 3, 4]);
    for (let i = 1; i < attempts.length; i++) expect(attempts[i].at - attempts[i - 1].at).toBeGreaterThanOrEqual(35);
    const dead = await bus.deadLetters();
    expect(dead).toEqual([
      expect.objectContaining({
        subscription: 'notify',
        body: { hello: 'world' },
        reason: 'MaxDeliveryCountExceeded',
        description: 'webhook answered 503 (attempt 4)',
        deliveryCount: 4,
        deadLetteredAt: '2025-03-01T00:00:00.000Z',
      }),
    ]);
  });

  it('When a handler fails once, then the message is delivered again and completes (at-least-once)', async () => {
    const bus = aBus({ retryBaseDelayMs: 10, retryMaxDelayMs: 10 });
    const counts: number[] = [];
    bus.subscribe('notify', 'certops.certificate.analyzed', async (m) => {
      counts.push(m.deliveryCount);
      if (m.deliveryCount === 1) throw new Error('transient');
      return complete;
    });
    bus.start();

    await bus.publishRaw('certops.certificate.analyzed', ['x']);
    await bus.idle();
    expect(counts).toEqual([1, 2]);
    expect(await bus.deadLetters()).toEqual([]);
  });

  it.each([
    { attempt: 1, ceiling: 200 },
    { attempt: 2, ceiling: 400 },
    { attempt: 4, ceiling: 1_600 },
    { attempt: 10, ceiling: 10_000 },
  ])('When delivery $attempt fails, then the retry waits a jittered delay below $ceiling ms', ({ attempt, ceiling }) => {
    expect(retryDelayMs(attempt, 200, 10_000, () => 0.999999)).toBe(ceiling - 1);
    expect(retryDelayMs(attempt, 200, 10_000, () => 0)).toBe(0);
    expect(retryDelayMs(attempt, 200, 10_000, () => 0.5)).toBe(ceiling / 2);
  });

  it('When a handler dead-letters a message, then it is not retried and keeps the reason and description', async () => {
    const bus = aBus();
    let calls = 0;
    bus.subscribe('notify', 'certops.certificate.analyzed', async () => {
      calls += 1;
      return { kind: 'dead-letter', reason: 'InvalidEvent', description: 'data.n must be a number' };
    });
    bus.start();

    await bus.publishRaw('certops.certificate.analyzed', [{ n: 'x' }]);
    await bus.idle();
    expect(calls).toBe(1);
    expect(await bus.deadLetters()).toEqual([
      expect.objectContaining({ reason: 'InvalidEvent', description: 'data.n must be a number', deliveryCount: 1, body: { n: 'x' } }),
    ]);
  });

  it('When a retry is scheduled in the future, then idle() waits for it', async () => {
    const bus = aBus({ retryBaseDelayMs: 300, retryMaxDelayMs: 300 });
    const delivered: number[] = [];
    bus.subscribe('notify', 'certops.certificate.analyzed', async (m) => {
      if (m.deliveryCount === 1) throw new Error('later');
      delivered.push(m.deliveryCount);
      return complete;
    });
    bus.start();

    // Force the full delay: with jitter it could be anything in [0, 300).
    jest.spyOn(Math, 'random').mockReturnValue(0.999);
    await bus.publishRaw('certops.certificate.analyzed', ['x']);
    await bus.idle();
    jest.restoreAllMocks();
    expect(delivered).toEqual([2]);
  });

  it('When a handler is still running, then idle() does not resolve until it settles', async () => {
    const bus = aBus();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    bus.subscribe('notify', 'certops.certificate.analyzed', async () => {
      await gate;
      return complete;
    });
    bus.start();
    await bus.publishRaw('certops.certificate.analyzed', ['x']);

    let idle = false;
    const waiting = bus.idle().then(() => (idle = true));
    await new Promise((r) => setTimeout(r, 100));
    expect(idle).toBe(false);
    release();
    await waiting;
    expect(idle).toBe(true);
  });

  it('When a handler runs longer than the lock duration, then its lock is renewed and the message is not delivered twice', async () => {
    const bus = aBus({ lockDurationMs: 100 });
    const deliveries: number[] = [];
    bus.subscribe('notify', 'certops.certificate.analyzed', async (m) => {
      deliveries.push(m.deliveryCount);
      await new Promise((r) => setTimeout(r, 400));
      return complete;
    });
    bus.start();
    await bus.publishRaw('certops.certificate.analyzed', ['slow']);
    await bus.idle();
    expect(deliveries).toEqual([1]);
  });

  it('When handlers are limited to a concurrency, then no more run at once', async () => {
    const bus = aBus();
    let running = 0;
    let peak = 0;
    bus.subscribe(
      'notify',
      'certops.certificate.analyzed',
      async () => {
        running += 1;
        peak = Math.max(peak, running);
        await new Promise((r) => setTimeout(r, 5));
        running -= 1;
        return complete;
      },
      { concurrency: 3 },
    );
    bus.start();
    await bus.publishRaw('certops.certificate.analyzed', Array.from({ length: 30 }, (_, i) => i));
    await bus.idle();
    expect(peak).toBe(3);
  });

  it('When the process holding locks is killed (SIGKILL), then a new bus on the file delivers every message, none lost', async () => {
    const count = 20;
    const child = spawn(path.resolve('node_modules/.bin/tsx'), [path.resolve('tests/support/bus-crash-child.ts'), dbPath, String(count), '400'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group: tsx runs the script in a child node process, and the crash must
      // kill that one too (killing only the tsx wrapper would leave the script holding its locks).
      detached: true,
    });
    const killGroup = () => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    cleanups.push(killGroup);
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const handling = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('HANDLING')) resolve(out);
      });
      child.on('exit', (code) => reject(new Error(`the child exited (${code}) before handling: ${stderr}`)));
    });
    const exited = new Promise((resolve) => child.on('exit', resolve));
    killGroup();
    await exited;
    expect(handling).toContain(`PUBLISHED ${count}`);

    const bus = aBus({ routes: [{ topic: 'crash', subscriptions: ['crash-handler'] }], lockDurationMs: 400 });
    const seen = new Map<number, number>();
    bus.subscribe('crash-handler', 'crash', async (m) => {
      const n = (m.body as { n: number }).n;
      seen.set(n, Math.max(seen.get(n) ?? 0, m.deliveryCount));
      return complete;
    });
    bus.start();
    await bus.idle();

    expect([...seen.keys()].sort((a, b) => a - b)).toEqual(Array.from({ length: count }, (_, i) => i));
    // The messages the dead process had locked come back only after their lock expired.
    expect([...seen.values()].filter((c) => c === 2).length).toBeGreaterThanOrEqual(1);
    expect(await bus.deadLetters()).toEqual([]);
  }, 30_000);
});
