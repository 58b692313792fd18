/**
 * Issue 11, defects 1 and 7, through the operator's command (`certops audit verify`) on a real data
 * directory: someone who can write certops' database tampers with the audit the way the defects
 * describe, and the command must say so (exit 1, the tenant and the first missing record named),
 * while every other tenant is still checked.
 *
 * The tampering reaches the signed heads wherever they are kept: the table of the database (where
 * they lived before the head log) and the head log file beside it, so each case shows what the old
 * layout let through.
 */
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import BetterSqlite3 from 'better-sqlite3';
import { main } from '../../shared/cli/main';
import { loadConfig } from '../../shared/config/load-config';
import { createEmbeddedRuntime } from '../../shared/composition-root';
import { createLogger } from '../../shared/observability/logger';
import { signAuditHeads } from '../../shared/pipeline/audit-heads';

jest.setTimeout(30_000);

let dir: string;
let configFile: string;
const dataDir = () => path.join(dir, 'data');
const databaseFile = () => path.join(dataDir(), 'certops.db');
const headLogFile = () => path.join(dataDir(), 'audit-heads.jsonl');

beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'certops-audit-tamper-'));
  configFile = path.join(dir, 'certops.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      dataDir: dataDir(),
      notifications: { console: false },
      tenants: ['contoso', 'fabrikam'].map((id) => ({ id, assignee: { name: 'Dana' }, endpoints: [] })),
    }),
  );
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** Appends `n` records to each tenant's chain (contoso first), then signs the heads as a sweep's end does. */
async function appendAndSign(n: number): Promise<void> {
  const runtime = createEmbeddedRuntime(loadConfig(configFile), { notify: false, logger: createLogger({ level: 'silent' }) });
  try {
    for (const tenant of ['contoso', 'fabrikam']) {
      for (let i = 0; i < n; i++) await runtime.deps.audit.append(tenant, { kind: 'certificate.discovered', actor: 'stage:discover', correlationId: `c${i}`, data: { i } });
    }
    await signAuditHeads(runtime.deps);
  } finally {
    await runtime.close();
  }
}

async function certops(...argv: string[]): Promise<{ code: number; text: string }> {
  let text = '';
  const out = new Writable({ write: (c, _e, cb) => ((text += String(c)), cb()) });
  const code = await main([...argv, '--config', configFile], out);
  return { code, text };
}

/** SQL straight at the database file, as someone with write access to it (not through certops). */
function sql(statements: (db: BetterSqlite3.Database) => void): void {
  const db = new BetterSqlite3(databaseFile());
  try {
    statements(db);
  } finally {
    db.close();
  }
}

const hasTable = (db: BetterSqlite3.Database, name: string) => db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(name) !== undefined;

function deleteRecords(tenant: string, fromSeq: number): void {
  sql((db) => {
    db.prepare('DELETE FROM audit_records WHERE tenant_id = ? AND seq >= ?').run(tenant, fromSeq);
    // Where the heads used to live: the tampering removes that evidence too.
    if (hasTable(db, 'audit_signed_heads')) db.prepare('DELETE FROM audit_signed_heads WHERE tenant_id = ?').run(tenant);
  });
}

const headLines = () => readFileSync(headLogFile(), 'utf8').split('\n').filter(Boolean);

describe('Issue 11 defect 1: audit truncation is undetectable', () => {
  it('When the tail of a chain is cut and the signed head deleted from the database, then audit verify names the missing records and exits 1', async () => {
    await appendAndSign(5);

    deleteRecords('contoso', 4);

    const { code, text } = await certops('audit', 'verify');
    expect(text).toMatch(/audit contoso: TAMPERED: records 4 to 5 of tenant contoso are missing/);
    expect(text).toMatch(/audit fabrikam: 5 records, chain intact/);
    expect(code).toBe(1);
  });

  it('When an older copy of the database (older records, older head) is put back, then audit verify names the records it lacks', async () => {
    await appendAndSign(3);
    const older = path.join(dir, 'certops.db.older');
    copyFileSync(databaseFile(), older); // the runtime closed: the WAL is checkpointed into the file
    await appendAndSign(2);

    for (const suffix of ['-wal', '-shm']) rmSync(`${databaseFile()}${suffix}`, { force: true });
    copyFileSync(older, databaseFile());

    const { code, text } = await certops('audit', 'verify');
    expect(text).toMatch(/audit contoso: TAMPERED: records 4 to 5 of tenant contoso are missing/);
    expect(text).toMatch(/audit fabrikam: TAMPERED: records 4 to 5 of tenant fabrikam are missing/);
    expect(code).toBe(1);
  });

  it("When a tenant's whole chain is deleted, then audit verify still lists the tenant, as tampered", async () => {
    await appendAndSign(5);

    deleteRecords('fabrikam', 1);

    const { code, text } = await certops('audit', 'verify');
    expect(text).toMatch(/audit contoso: 5 records, chain intact/);
    expect(text).toMatch(/audit fabrikam: TAMPERED: records 1 to 5 of tenant fabrikam are missing/);
    expect(code).toBe(1);
  });

  it('When a head log entry is deleted, then audit verify names the entry whose predecessor is gone', async () => {
    await appendAndSign(2);
    await appendAndSign(1);
    const lines = headLines();
    expect(lines).toHaveLength(4); // contoso, fabrikam, contoso, fabrikam

    writeFileSync(headLogFile(), `${[lines[0], lines[2], lines[3]].join('\n')}\n`); // fabrikam's first head gone

    const { code, text } = await certops('audit', 'verify');
    expect(text).toMatch(/audit contoso: TAMPERED: head log entry 3 .*entry 2 .*(deleted|altered)/);
    expect(code).toBe(1);
  });

  it('When the records and the head log are both rolled back together, then only a head a witness kept (--head FILE) shows it', async () => {
    await appendAndSign(3);
    const headLogThen = readFileSync(headLogFile());
    await appendAndSign(2);
    // The witness: the signed head the OSCAL export carried out of the machine.
    const exported = path.join(dir, 'contoso.oscal.json');
    expect((await certops('audit', 'export', '--format', 'oscal', '--tenant', 'contoso', '--out', exported)).code).toBe(0);
    const resources = (JSON.parse(readFileSync(exported, 'utf8')) as { 'assessment-results': { 'back-matter': { resources: Array<{ title: string; base64?: { value: string } }> } } })['assessment-results']['back-matter'].resources;
    const signedHead = resources.find((r) => /^Signed audit head/.test(r.title))!;
    const witness = path.join(dir, 'witness-head.json');
    writeFileSync(witness, Buffer.from(signedHead.base64!.value, 'base64'));
    expect(JSON.parse(readFileSync(witness, 'utf8'))).toMatchObject({ tenantId: 'contoso', seq: 5 });

    deleteRecords('contoso', 4);
    deleteRecords('fabrikam', 4);
    writeFileSync(headLogFile(), headLogThen);

    // Consistent on the machine (the limit a witness exists for)…
    expect((await certops('audit', 'verify')).code).toBe(0);
    // …but not against the head that left it.
    const { code, text } = await certops('audit', 'verify', '--head', witness);
    expect(text).toMatch(/audit contoso: TAMPERED: .*record 5 .*witness/);
    expect(code).toBe(1);
  });
});

describe('Issue 11 defect 7: a malformed signed-head record crashes audit verify', () => {
  it("When one tenant's latest signed head is malformed, then verify reports that tenant as failed, still checks the others, and exits 1", async () => {
    await appendAndSign(3);

    const malformed = '{"tenantId":"fabrikam","seq":"three"}';
    sql((db) => {
      if (hasTable(db, 'audit_signed_heads')) db.prepare('UPDATE audit_signed_heads SET record = ? WHERE tenant_id = ?').run(malformed, 'fabrikam');
    });
    if (existsSync(headLogFile())) {
      const lines = headLines();
      writeFileSync(headLogFile(), `${[...lines.slice(0, -1), malformed].join('\n')}\n`); // fabrikam's head was signed last
    }

    const { code, text } = await certops('audit', 'verify');
    expect(text).toMatch(/audit contoso: 3 records, chain intact/);
    expect(text).toMatch(/audit fabrikam: TAMPERED: .*head log entry 2 is malformed/);
    expect(code).toBe(1);
  });
});
