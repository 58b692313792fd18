import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SqliteCertificateStore } from '../../shared/adapters/local/sqlite-certificate-store';
import { closeDatabase, openDatabase } from '../../shared/adapters/local/sqlite-database';
import { certificateStoreContract } from './certificate-store.contract';

// One directory per test: every store a test makes opens the same file (so reopening is real).
let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certops-store-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

certificateStoreContract('SqliteCertificateStore', async () => {
  const db = openDatabase(path.join(dir, 'certops.db'));
  return { store: new SqliteCertificateStore(db), close: async () => closeDatabase(db) };
});
