/**
 * The GovernanceStore contract against SqliteGovernanceStore. One directory per test: every store
 * a test makes opens its own connection to the same file, so a second writer is a second
 * connection and a reopen is real.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { closeDatabase, openDatabase } from '../../shared/adapters/local/sqlite-database';
import { SqliteGovernanceStore } from '../../shared/adapters/local/sqlite-governance-store';
import { governanceStoreContract } from './governance-store.contract';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certops-governance-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

governanceStoreContract('SqliteGovernanceStore', async () => {
  const db = openDatabase(path.join(dir, 'certops.db'));
  return { store: new SqliteGovernanceStore(db), close: async () => closeDatabase(db) };
});
