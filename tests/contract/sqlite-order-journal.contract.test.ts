/**
 * The AcmeOrderJournal contract against SqliteAcmeOrderJournal: every journal of a test opens its
 * own connection to the same file, so the contract's "the process starts again" is a real reopen.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SqliteAcmeOrderJournal } from '../../shared/adapters/local/sqlite-order-journal';
import { closeDatabase, openDatabase } from '../../shared/adapters/local/sqlite-database';
import { acmeOrderJournalContract } from './order-journal.contract';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certops-journal-contract-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

acmeOrderJournalContract('SqliteAcmeOrderJournal', async () => {
  const db = openDatabase(path.join(dir, 'certops.db'));
  return { journal: new SqliteAcmeOrderJournal(db), close: async () => closeDatabase(db) };
});
