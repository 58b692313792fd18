import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fixedClock } from '../../shared/domain/clock';
import { canonicalJson, hashAuditRecord, verifyAuditChain } from '../../shared/domain/audit-chain';
import { auditChainKey, SqliteAuditLog } from '../../shared/adapters/local/sqlite-audit-log';
import { closeDatabase, openDatabase, type Database } from '../../shared/adapters/local/sqlite-database';
import type { AuditEntry } from '../../shared/ports/audit-log';

function anEntry(overrides: Partial<AuditEntry> = {}): AuditEntry {
  return { kind: 'certificate.discovered', actor: 'discover', correlationId: 'corr-1', data: { endpoint: 'www.contoso.test:443' }, ...overrides };
}

describe('SqliteAuditLog', () => {
  let dir: string;
  const dbs: Database[] = [];
  const clock = fixedClock('2025-03-01T00:00:00.000Z');

  function openLog(): { log: SqliteAuditLog; db: Database } {
    const db = openDatabase(path.join(dir, 'certops.db'));
    dbs.push(db);
    return { log: new SqliteAuditLog(db, clock), db };
  }

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certops-audit-'));
  });
  afterEach(() => {
    for (const db of dbs.splice(0)) closeDatabase(db);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('When entries are appended, then each record links to the previous one and the chain verifies', async () => {
    const { log } = openLog();
    const first = await log.append('contoso', anEntry({ data: { n: 1 } }));
    const second = await log.append('contoso', anEntry({ data: { n: 2 } }));

    expect(first).toMatchObject({ tenantId: 'contoso', seq: 1, at: '2025-03-01T00:00:00.000Z', prevHash: '0'.repeat(64) });
    expect(second).toMatchObject({ seq: 2, prevHash: first.hash });
    expect(await log.list('contoso')).toEqual([first, second]);
    expect(verifyAuditChain(await log.list('contoso'))).toEqual({ ok: true, count: 2 });
  });

  it('When many appends race, from two connections to the same file, then sequence numbers are dense from 1', async () => {
    const a = openLog().log;
    const b = openLog().log;
    await Promise.all(
      Array.from({ length: 200 }, (_, i) => (i % 2 === 0 ? a : b).append('contoso', anEntry({ data: { i } }))),
    );

    const records = await a.list('contoso');
    expect(records.map((r) => r.seq)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    expect(verifyAuditChain(records)).toEqual({ ok: true, count: 200 });
  });

  it('When two tenants append, then each has its own chain from seq 1 and genesis', async () => {
    const { log } = openLog();
    for (let i = 0; i < 3; i++) {
      await log.append('contoso', anEntry({ data: { i } }));
      await log.append('fabrikam', anEntry({ data: { i } }));
    }

    const contoso = await log.list('contoso');
    const fabrikam = await log.list('fabrikam');
    expect(contoso.map((r) => r.seq)).toEqual([1, 2, 3]);
    expect(fabrikam.map((r) => r.seq)).toEqual([1, 2, 3]);
    expect(fabrikam[0].prevHash).toBe('0'.repeat(64));
    expect(contoso.every((r) => r.tenantId === 'contoso')).toBe(true);
    expect(verifyAuditChain(contoso)).toMatchObject({ ok: true });
    expect(verifyAuditChain(fabrikam)).toMatchObject({ ok: true });
    expect(await log.tenants()).toEqual(['contoso', 'fabrikam']);
  });

  it('When a stored row is altered with SQL, then verification names that record', async () => {
    const { log, db } = openLog();
    for (let i = 1; i <= 6; i++) await log.append('contoso', anEntry({ data: { approvedBy: 'alice@contoso.test', i } }));

    db.prepare(`UPDATE audit_records SET data = json_set(data, '$.approvedBy', 'mallory@evil.test') WHERE tenant_id = ? AND seq = ?`).run('contoso', 4);

    const verdict = verifyAuditChain(await log.list('contoso'));
    expect(verdict).toEqual({
      ok: false,
      seq: 4,
      problem: 'hash-mismatch',
      message: 'record 4 of tenant contoso was altered: its hash does not match its content',
    });
  });

  it('When a stored row is deleted with SQL, then verification names the record after the gap', async () => {
    const { log, db } = openLog();
    for (let i = 1; i <= 4; i++) await log.append('contoso', anEntry({ data: { i } }));

    db.prepare('DELETE FROM audit_records WHERE tenant_id = ? AND seq = ?').run('contoso', 2);

    expect(verifyAuditChain(await log.list('contoso'))).toMatchObject({ ok: false, seq: 3, problem: 'sequence-gap' });
  });

  it('When the data cannot be canonicalized, then the append is refused and nothing is written', async () => {
    const { log } = openLog();
    await expect(log.append('contoso', anEntry({ data: { bad: Number.NaN } }))).rejects.toThrow(/not a JSON number/);
    expect(await log.list('contoso')).toEqual([]);
  });

  it('When the file is reopened, then the chain continues where it stopped', async () => {
    const first = openLog();
    await first.log.append('contoso', anEntry());
    closeDatabase(first.db);

    const { log } = openLog();
    const next = await log.append('contoso', anEntry());
    expect(next.seq).toBe(2);
    expect(verifyAuditChain(await log.list('contoso'))).toEqual({ ok: true, count: 2 });
  });

  it('When the log is keyed, then it verifies its own chain, and a record re-hashed without the key is named', async () => {
    const db = openDatabase(path.join(dir, 'certops.db'));
    dbs.push(db);
    const log = new SqliteAuditLog(db, clock, auditChainKey(Buffer.alloc(32, 7)));
    for (let n = 1; n <= 3; n++) await log.append('contoso', anEntry({ data: { n } }));
    expect(await log.verify('contoso')).toEqual({ ok: true, count: 3 });
    expect(verifyAuditChain(await log.list('contoso')).ok).toBe(false); // not a plain SHA-256 chain

    const [, second] = await log.list('contoso');
    const { hash: _h, ...content } = { ...second, data: { n: 20 } };
    db.prepare('UPDATE audit_records SET data = ?, hash = ? WHERE tenant_id = ? AND seq = 2').run(canonicalJson({ n: 20 }), hashAuditRecord(content), 'contoso');
    expect(await log.verify('contoso')).toMatchObject({ ok: false, seq: 2, problem: 'hash-mismatch' });
  });
});
