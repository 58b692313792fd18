/**
 * Signing and checking the audit heads (shared/pipeline/audit-heads.ts) over the embedded adapters
 * (SQLite records, the head log file): what each check names, and that one tenant's broken data
 * never stops the others being checked.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { headSignerFrom } from '../../shared/adapters/local/ed25519-head-signer';
import { FileAuditHeadLog } from '../../shared/adapters/local/file-audit-head-log';
import { auditChainKey, SqliteAuditLog } from '../../shared/adapters/local/sqlite-audit-log';
import { closeDatabase, openDatabase, type Database } from '../../shared/adapters/local/sqlite-database';
import { fixedClock } from '../../shared/domain/clock';
import { headLine, signedHeadPayload } from '../../shared/domain/signed-head';
import { readHeadLog, signAuditHeads, verifyTenantAudit } from '../../shared/pipeline/audit-heads';
import type { AuditLog } from '../../shared/ports/audit-log';

let dir: string;
let db: Database;
let deps: { audit: AuditLog; auditHeads: FileAuditHeadLog; auditSigner: ReturnType<typeof headSignerFrom>; clock: ReturnType<typeof fixedClock> };
const headFile = () => path.join(dir, 'audit-heads.jsonl');

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certops-audit-heads-'));
  db = openDatabase(path.join(dir, 'certops.db'));
  const clock = fixedClock('2026-03-01T00:00:00.000Z');
  deps = { audit: new SqliteAuditLog(db, clock, auditChainKey(Buffer.alloc(32, 7))), auditHeads: new FileAuditHeadLog(headFile()), auditSigner: headSignerFrom(Buffer.alloc(32, 9)), clock };
});
afterEach(() => {
  closeDatabase(db);
  fs.rmSync(dir, { recursive: true, force: true });
});

async function append(tenant: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await deps.audit.append(tenant, { kind: 'certificate.discovered', actor: 'stage:discover', correlationId: 'c', data: { i } });
}

describe('signAuditHeads', () => {
  it('When a chain moved since its latest head, then one head is appended for it, naming its tip and the log entry before; an unmoved chain gets none', async () => {
    await append('contoso', 2);
    await append('fabrikam', 1);
    const first = await signAuditHeads(deps);
    await append('contoso', 1);
    const second = await signAuditHeads(deps);

    expect(first.map((h) => [h.tenantId, h.seq, h.index])).toEqual([['contoso', 2, 1], ['fabrikam', 1, 2]]);
    expect(second.map((h) => [h.tenantId, h.seq, h.index])).toEqual([['contoso', 3, 3]]);
    expect(await signAuditHeads(deps)).toEqual([]);
    expect(await deps.auditSigner.verify(signedHeadPayload(second[0]), second[0].signature, second[0].keyId)).toBe(true);
  });

  it('When a chain is found shorter than its latest head, then no head is signed below it (that would paper over the cut)', async () => {
    await append('contoso', 3);
    await signAuditHeads(deps);
    db.prepare('DELETE FROM audit_records WHERE tenant_id = ? AND seq = 3').run('contoso');

    expect(await signAuditHeads(deps)).toEqual([]);
    expect(await verifyTenantAudit(deps, 'contoso')).toMatchObject({ ok: false, problem: 'truncated', seq: 3, message: expect.stringMatching(/^record 3 of tenant contoso is missing/) });
  });
  it("When one tenant's head cannot be signed, then the other tenants' heads are signed all the same and the run says which failed", async () => {
    await append('contoso', 1);
    await append('fabrikam', 1);
    const failing = { ...deps, audit: Object.assign(Object.create(deps.audit) as AuditLog, { tip: async (tenant: string) => (tenant === 'contoso' ? Promise.reject(new Error('disk I/O error')) : deps.audit.tip(tenant)) }) };

    await expect(signAuditHeads(failing)).rejects.toThrow(/signing the audit heads of 1 tenant\(s\) failed \(contoso: disk I\/O error\); 1 signed/);
    expect((await deps.auditHeads.latest('fabrikam'))?.seq).toBe(1);
    expect(await deps.auditHeads.latest('contoso')).toBeNull();
  });
});

describe('verifyTenantAudit', () => {
  it('When the chain was cut and rewritten with the key from a signed record on, then the record named by the head is said to be rewritten', async () => {
    await append('contoso', 3);
    await signAuditHeads(deps);
    db.prepare('DELETE FROM audit_records WHERE tenant_id = ? AND seq = 3').run('contoso');
    await deps.audit.append('contoso', { kind: 'approval.approved', actor: 'human:mallory', correlationId: 'x', data: {} });

    expect(await verifyTenantAudit(deps, 'contoso')).toMatchObject({ ok: false, problem: 'truncated', message: expect.stringMatching(/^record 3 of tenant contoso is not the one signed at .*: the chain was cut and rewritten from there/) });
  });

  it('When a head log entry was signed by another key, then it is named, with the key', async () => {
    await append('contoso', 1);
    const other = { ...deps, auditSigner: headSignerFrom(Buffer.alloc(32, 1)) };
    await signAuditHeads(other);

    expect(await verifyTenantAudit(deps, 'contoso')).toMatchObject({ ok: false, problem: 'head-log', message: expect.stringContaining(`does not verify with key ${other.auditSigner.keyId}`) });
  });

  it("When a head log line names no tenant and comes after a tenant's latest head, then that tenant fails (it may have been its latest head); a tenant with a later head does not", async () => {
    await append('contoso', 1);
    await signAuditHeads(deps);
    fs.appendFileSync(headFile(), 'garbage\n');
    await append('fabrikam', 1);
    await signAuditHeads(deps);

    const log = await readHeadLog(deps);
    expect(log.findings).toEqual([{ tenantId: null, position: 2, message: expect.stringMatching(/^head log entry 2 is malformed \(it is not JSON\)/) }]);
    expect(await verifyTenantAudit(deps, 'contoso', { headLog: log })).toMatchObject({ ok: false, problem: 'head-log', message: expect.stringContaining("may have been that head") });
    expect(await verifyTenantAudit(deps, 'fabrikam', { headLog: log })).toMatchObject({ ok: true, count: 1 });
  });

  it("When reading one tenant's audit throws, then that tenant's verdict says so and the next tenant is still checked", async () => {
    await append('contoso', 1);
    await append('fabrikam', 1);
    await signAuditHeads(deps);
    const broken = { ...deps, audit: { ...deps.audit, verify: async (t: string) => (t === 'contoso' ? Promise.reject(new TypeError('cannot read properties of undefined')) : deps.audit.verify(t)), list: (t: string) => deps.audit.list(t) } as AuditLog };

    expect(await verifyTenantAudit(broken, 'contoso')).toMatchObject({ ok: false, problem: 'unreadable', message: expect.stringMatching(/^the audit of tenant contoso could not be read: cannot read properties/) });
    expect(await verifyTenantAudit(broken, 'fabrikam')).toMatchObject({ ok: true, count: 1 });
  });

  it('When a witness head is malformed, forged, or agrees, then verify says which', async () => {
    await append('contoso', 2);
    const [head] = await signAuditHeads(deps);

    expect(await verifyTenantAudit(deps, 'contoso', { witness: { tenantId: 'contoso', seq: 'two' } })).toMatchObject({ ok: false, problem: 'witness', message: expect.stringMatching(/^the witness head is malformed: index is not a positive integer/) });
    expect(await verifyTenantAudit(deps, 'contoso', { witness: { ...head, seq: 1 } })).toMatchObject({ ok: false, problem: 'witness', message: expect.stringContaining('does not verify with key') });
    expect(await verifyTenantAudit(deps, 'contoso', { witness: JSON.parse(headLine(head)) })).toMatchObject({ ok: true, count: 2 });
  });
});
