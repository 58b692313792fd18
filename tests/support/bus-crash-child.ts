/**
 * A process that dies holding message locks, for the event bus crash test.
 * Usage: tsx bus-crash-child.ts <db file> <message count> <lockDurationMs>
 * Publishes <count> messages to topic `crash` (subscription `crash-handler`), then handles them
 * with handlers that never settle; prints `HANDLING <id>` for each delivery it starts. The parent
 * kills it with SIGKILL: no stop(), no settlement, locks left in the file.
 */
import { openDatabase } from '../../shared/adapters/local/sqlite-database';
import { SqliteEventBus } from '../../shared/adapters/local/sqlite-event-bus';

const [dbPath, countText, lockText] = process.argv.slice(2);
const db = openDatabase(dbPath);
const bus = new SqliteEventBus(db, {
  routes: [{ topic: 'crash', subscriptions: ['crash-handler'] }],
  lockDurationMs: Number(lockText),
});

void (async () => {
  const count = Number(countText);
  await bus.publishRaw('crash', Array.from({ length: count }, (_, i) => ({ n: i })));
  process.stdout.write(`PUBLISHED ${count}\n`);
  bus.subscribe(
    'crash-handler',
    'crash',
    (message) => {
      process.stdout.write(`HANDLING ${JSON.stringify(message.body)}\n`);
      return new Promise(() => undefined);
    },
    { concurrency: 4 },
  );
  bus.start();
})();
