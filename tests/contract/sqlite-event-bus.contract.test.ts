/**
 * The EventBus contract against SqliteEventBus: one SQLite file per world, every bus of the world
 * on its own connection to that file (as separate processes would be).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { closeDatabase, openDatabase, type Database } from '../../shared/adapters/local/sqlite-database';
import { SqliteEventBus } from '../../shared/adapters/local/sqlite-event-bus';
import { CONTRACT_ROUTES, eventBusContract } from './event-bus.contract';

const dirs: string[] = [];
const dbs: Database[] = [];
const buses: SqliteEventBus[] = [];

eventBusContract('SqliteEventBus', {
  // SqliteEventBus stores one row per (message, subscription) with no unique message id.
  deduplicatesMessageIds: false,
  async world({ maxDeliveryCount }) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certops-bus-contract-'));
    dirs.push(dir);
    return {
      aBus() {
        const db = openDatabase(path.join(dir, 'certops.db'));
        dbs.push(db);
        // The default retry delays (base 200 ms), as the Service Bus runner: the contract's backoff
        // case measures their sum against 30 ms, which shortened delays (base 10 ms, at most 20)
        // undercut about one run in ten.
        const bus = new SqliteEventBus(db, { routes: CONTRACT_ROUTES, maxDeliveryCount, pollIntervalMs: 5 });
        buses.push(bus);
        return bus;
      },
    };
  },
  async cleanup() {
    for (const bus of buses.splice(0)) await bus.stop();
    for (const db of dbs.splice(0)) closeDatabase(db);
    for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
  },
});
