/**
 * What only SqliteEventBus does: the exact retry delays (and the clock stamping its rows), a retry
 * scheduled far enough ahead that idle() must wait for it, lock renewal, and a process killed while
 * holding locks. Routing, at-least-once delivery, dead-lettering, idle() and concurrency are the
 * EventBus contract (event-bus.contract.ts, run by sqlite-event-bus.contract.test.ts).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fixedClock } from '../../shared/domain/clock';
import { closeDatabase, openDatabase, type Database } from '../../shared/adapters/local/sqlite-database';
import { SqliteEventBus, retryDelayMs, type SqliteEventBusOptions } from '../../shared/adapters/local/sqlite-event-bus';
import type { Settlement } from '../../shared/ports/event-bus';
import { CONTRACT_ROUTES } from './event-bus.contract';

const ANALYZED = CONTRACT_ROUTES[1].topic;
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
    const bus = new SqliteEventBus(db, { routes: CONTRACT_ROUTES, clock: fixedClock('2025-03-01T00:00:00.000Z'), pollIntervalMs: 5, ...options });
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

  it('When a handler keeps failing, then every retry waits at least the computed delay, and the bus clock stamps the message and its dead-lettering', async () => {
    const bus = aBus({ maxDeliveryCount: 4, retryBaseDelayMs: 40, retryMaxDelayMs: 40 });
    const attempts: Array<{ count: number; at: number; enqueuedAt: string }> = [];
    bus.subscribe('notify', ANALYZED, async (m) => {
      attempts.push({ count: m.deliveryCount, at: Date.now(), enqueuedAt: m.enqueuedAt });
      throw new Error(`webhook answered 503 (attempt ${m.deliveryCount})`);
    });
    bus.start();

    jest.spyOn(Math, 'random').mockReturnValue(0.999); // the longest jittered delay: 39 ms
    await bus.publishRaw(ANALYZED, [{ hello: 'world' }]);
    await bus.idle();
    jest.restoreAllMocks();

    expect(attempts.map((a) => a.count)).toEqual([1, 2, 3, 4]);
    for (let i = 1; i < attempts.length; i++) expect(attempts[i].at - attempts[i - 1].at).toBeGreaterThanOrEqual(35);
    expect(new Set(attempts.map((a) => a.enqueuedAt))).toEqual(new Set(['2025-03-01T00:00:00.000Z']));
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

  it('When a retry is scheduled in the future, then idle() waits for it', async () => {
    const bus = aBus({ retryBaseDelayMs: 300, retryMaxDelayMs: 300 });
    const delivered: number[] = [];
    bus.subscribe('notify', ANALYZED, async (m) => {
      if (m.deliveryCount === 1) throw new Error('later');
      delivered.push(m.deliveryCount);
      return complete;
    });
    bus.start();

    // Force the full delay: with jitter it could be anything in [0, 300).
    jest.spyOn(Math, 'random').mockReturnValue(0.999);
    await bus.publishRaw(ANALYZED, ['x']);
    await bus.idle();
    jest.restoreAllMocks();
    expect(delivered).toEqual([2]);
  });

  it('When a handler runs longer than the lock duration, then its lock is renewed and the message is not delivered twice', async () => {
    const bus = aBus({ lockDurationMs: 100 });
    const deliveries: number[] = [];
    bus.subscribe('notify', ANALYZED, async (m) => {
      deliveries.push(m.deliveryCount);
      await new Promise((r) => setTimeout(r, 400));
      return complete;
    });
    bus.start();
    await bus.publishRaw(ANALYZED, ['slow']);
    await bus.idle();
    expect(deliveries).toEqual([1]);
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
