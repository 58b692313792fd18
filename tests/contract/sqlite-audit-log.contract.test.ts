/**
 * The AuditLog contract against SqliteAuditLog: every log of a test opens its own connection to
 * the same file, so the contract's race "from two instances" is two connections to one file, and
 * its tampering (`overwrite`, `remove`) is SQL run straight at the table.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { canonicalJson } from '../../shared/domain/audit-chain';
import { SqliteAuditLog } from '../../shared/adapters/local/sqlite-audit-log';
import { closeDatabase, openDatabase } from '../../shared/adapters/local/sqlite-database';
import { auditLogContract } from './audit-log.contract';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certops-audit-contract-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

auditLogContract('SqliteAuditLog', async ({ clock, key }) => {
  const db = openDatabase(path.join(dir, 'certops.db'));
  let closed = false;
  return {
    log: new SqliteAuditLog(db, clock, key),
    async overwrite(record) {
      // An upsert: tampering may also write a record at a seq that did not exist (an insertion).
      db.prepare(
        `INSERT OR REPLACE INTO audit_records (tenant_id, seq, at, kind, actor, correlation_id, data, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ).run(record.tenantId, record.seq, record.at, record.kind, record.actor, record.correlationId, canonicalJson(record.data), record.prevHash, record.hash);
    },
    async remove(tenantId, seq) {
      db.prepare('DELETE FROM audit_records WHERE tenant_id = ? AND seq = ?').run(tenantId, seq);
    },
    async close() {
      if (!closed) closeDatabase(db);
      closed = true;
    },
  };
});
