import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { closeDatabase, openDatabase } from '../../shared/adapters/local/sqlite-database';
import { SqliteKeyStore } from '../../shared/adapters/local/sqlite-key-store';
import { keyStoreContract } from './key-store.contract';

// SqliteKeyStore logs nothing: `logs()` is empty, and the console spy of the contract is the check.
keyStoreContract('SqliteKeyStore', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certops-keystore-contract-'));
  const db = openDatabase(path.join(dir, 'certops.db'));
  return {
    store: new SqliteKeyStore(db, randomBytes(32)),
    logs: () => '',
    close: async () => {
      closeDatabase(db);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
});
