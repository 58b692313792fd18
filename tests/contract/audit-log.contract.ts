/**
 * The AuditLog contract (shared/ports/audit-log.ts), written once and run against every adapter:
 * `auditLogContract('SqliteAuditLog', makeLog)`. Every `makeLog` call within one test opens another
 * instance over the same storage (a second process, or a restart). The handle's `overwrite` and
 * `remove` tamper with stored records the way someone with write access to the store but not to
 * the log's key would: bypassing the log, through the store's own client.
 *
 * Truncation at the end of a chain, which no chain can show by itself, is caught against the signed
 * heads of the head log: tests/contract/audit-head-log.contract.ts and tests/unit/audit-heads.test.ts.
 */
import { fixedClock, type Clock } from '../../shared/domain/clock';
import { GENESIS_HASH, hashAuditRecord, verifyAuditChain } from '../../shared/domain/audit-chain';
import { auditChainKey } from '../../shared/adapters/local/sqlite-audit-log';
import type { AuditEntry, AuditLog, AuditRecord } from '../../shared/ports/audit-log';

export interface AuditLogHandle {
  log: AuditLog;
  /** Replaces the stored record of (record.tenantId, record.seq) with `record`, as is. */
  overwrite(record: AuditRecord): Promise<void>;
  remove(tenantId: string, seq: number): Promise<void>;
  close(): Promise<void>;
}

export interface MakeAuditLog {
  (options: { clock: Clock; key?: Buffer }): Promise<AuditLogHandle>;
}

export interface AuditLogContractOptions {
  /** Appends raced from two instances in the concurrency case. */
  concurrentAppends?: number;
}

export function anAuditEntry(overrides: Partial<AuditEntry> = {}): AuditEntry {
  return { kind: 'certificate.discovered', actor: 'discover', correlationId: 'corr-1', data: { endpoint: 'www.contoso.test:443' }, ...overrides };
}

const seqsFrom1 = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);

export function auditLogContract(name: string, makeLog: MakeAuditLog, options: AuditLogContractOptions = {}): void {
  const concurrentAppends = options.concurrentAppends ?? 200;

  describe(`${name} (AuditLog contract)`, () => {
    const clock = fixedClock('2025-03-01T00:00:00.000Z');
    const key = auditChainKey(Buffer.alloc(32, 7));
    const open: AuditLogHandle[] = [];
    /** `withKey` null: a log without a key (a plain SHA-256 chain). */
    async function aLog(withKey: Buffer | null = key): Promise<AuditLogHandle> {
      const handle = await makeLog({ clock, key: withKey ?? undefined });
      open.push(handle);
      return handle;
    }
    afterEach(async () => {
      for (const handle of open.splice(0)) await handle.close();
    });

    it('When entries are appended, then each record links to the previous one and the chain verifies', async () => {
      const { log } = await aLog();
      const first = await log.append('contoso', anAuditEntry({ data: { n: 1 } }));
      const second = await log.append('contoso', anAuditEntry({ data: { n: 2 } }));

      expect(first).toMatchObject({ tenantId: 'contoso', seq: 1, at: '2025-03-01T00:00:00.000Z', prevHash: GENESIS_HASH });
      expect(second).toMatchObject({ seq: 2, prevHash: first.hash });
      expect(await log.list('contoso')).toEqual([first, second]);
      expect(await log.verify('contoso')).toEqual({ ok: true, count: 2 });
    });

    it(`When ${concurrentAppends} appends race from two instances, then sequence numbers are dense from 1 and the chain verifies`, async () => {
      const a = (await aLog()).log;
      const b = (await aLog()).log;
      const appended = await Promise.all(
        Array.from({ length: concurrentAppends }, (_, i) => (i % 2 === 0 ? a : b).append('contoso', anAuditEntry({ data: { i } }))),
      );

      const records = await a.list('contoso');
      expect(records.map((r) => r.seq)).toEqual(seqsFrom1(concurrentAppends));
      expect(appended.map((r) => r.seq).sort((x, y) => x - y)).toEqual(seqsFrom1(concurrentAppends));
      expect(records.map((r) => (r.data as { i: number }).i).sort((x, y) => x - y)).toEqual(seqsFrom1(concurrentAppends).map((s) => s - 1));
      expect(await b.verify('contoso')).toEqual({ ok: true, count: concurrentAppends });
    });

    it('When the tail after a seq is asked for, then exactly the later records come back in order, and the tip is the last', async () => {
      const handle = await aLog();
      expect(await handle.log.tip('contoso')).toBeNull();
      for (let n = 1; n <= 5; n++) await handle.log.append('contoso', anAuditEntry({ data: { n } }));
      expect((await handle.log.listAfter('contoso', 3)).map((r) => r.seq)).toEqual([4, 5]);
      expect(await handle.log.listAfter('contoso', 5)).toEqual([]);
      expect(await handle.log.listAfter('other', 0)).toEqual([]);
      const last = (await handle.log.list('contoso'))[4];
      expect(await handle.log.tip('contoso')).toEqual({ seq: 5, hash: last.hash });
      await handle.close();
    });

    it('When two tenants append, then each has its own chain from seq 1 and genesis', async () => {
      const { log } = await aLog();
      for (let i = 0; i < 3; i++) {
        await log.append('contoso', anAuditEntry({ data: { i } }));
        await log.append('fabrikam', anAuditEntry({ data: { i } }));
      }

      const contoso = await log.list('contoso');
      const fabrikam = await log.list('fabrikam');
      expect(contoso.map((r) => r.seq)).toEqual([1, 2, 3]);
      expect(fabrikam.map((r) => r.seq)).toEqual([1, 2, 3]);
      expect(fabrikam[0].prevHash).toBe(GENESIS_HASH);
      expect(contoso.every((r) => r.tenantId === 'contoso')).toBe(true);
      expect(fabrikam.every((r) => r.tenantId === 'fabrikam')).toBe(true);
      expect(await log.verify('contoso')).toEqual({ ok: true, count: 3 });
      expect(await log.verify('fabrikam')).toEqual({ ok: true, count: 3 });
      expect(await log.tenants()).toEqual(['contoso', 'fabrikam']);
    });

    it('When the log is reopened, then the chain continues where it stopped', async () => {
      const first = await aLog();
      await first.log.append('contoso', anAuditEntry());
      await first.close();
      open.splice(open.indexOf(first), 1);

      const { log } = await aLog();
      const next = await log.append('contoso', anAuditEntry());
      expect(next.seq).toBe(2);
      expect(await log.verify('contoso')).toEqual({ ok: true, count: 2 });
    });

    it('When the data cannot be canonicalized, then the append is refused and nothing is written', async () => {
      const { log } = await aLog();
      await expect(log.append('contoso', anAuditEntry({ data: { bad: Number.NaN } }))).rejects.toThrow(/not a JSON number/);
      expect(await log.list('contoso')).toEqual([]);
      expect((await log.append('contoso', anAuditEntry())).seq).toBe(1);
    });

    it('When the log has no key, then its chain is a plain SHA-256 chain that anyone can verify without a key', async () => {
      const { log } = await aLog(null);
      for (let n = 1; n <= 3; n++) await log.append('contoso', anAuditEntry({ data: { n } }));

      expect(verifyAuditChain(await log.list('contoso'))).toEqual({ ok: true, count: 3 });
      expect(await log.verify('contoso')).toEqual({ ok: true, count: 3 });
    });

    it('When the log is keyed, then its chain is not a plain SHA-256 chain, and a record re-hashed without the key is named', async () => {
      const handle = await aLog();
      for (let n = 1; n <= 3; n++) await handle.log.append('contoso', anAuditEntry({ data: { n } }));
      expect(await handle.log.verify('contoso')).toEqual({ ok: true, count: 3 });
      expect(verifyAuditChain(await handle.log.list('contoso')).ok).toBe(false);

      const [, second] = await handle.log.list('contoso');
      const { hash: _unkeyed, ...content } = { ...second, data: { n: 20 } };
      await handle.overwrite({ ...content, hash: hashAuditRecord(content) });

      expect(await handle.log.verify('contoso')).toMatchObject({ ok: false, seq: 2, problem: 'hash-mismatch' });
    });

    it('When a stored record is altered behind the log, then verification names that record', async () => {
      const handle = await aLog();
      for (let i = 1; i <= 6; i++) await handle.log.append('contoso', anAuditEntry({ data: { approvedBy: 'alice@contoso.test', i } }));
      const fourth = (await handle.log.list('contoso'))[3];

      await handle.overwrite({ ...fourth, data: { ...fourth.data, approvedBy: 'mallory@evil.test' } });

      expect(await handle.log.verify('contoso')).toEqual({
        ok: false,
        seq: 4,
        problem: 'hash-mismatch',
        message: 'record 4 of tenant contoso was altered: its hash does not match its content',
      });
    });

    it('When a stored record is deleted behind the log, then verification names the record after the gap', async () => {
      const handle = await aLog();
      for (let i = 1; i <= 4; i++) await handle.log.append('contoso', anAuditEntry({ data: { i } }));

      await handle.remove('contoso', 2);

      expect(await handle.log.verify('contoso')).toMatchObject({ ok: false, seq: 3, problem: 'sequence-gap' });
    });

    it('When two stored records are swapped (reordered) behind the log, then verification names the first of them', async () => {
      const handle = await aLog();
      for (let i = 1; i <= 5; i++) await handle.log.append('contoso', anAuditEntry({ data: { i } }));
      const [, second, third] = await handle.log.list('contoso');
      await handle.overwrite({ ...third, seq: 2 });
      await handle.overwrite({ ...second, seq: 3 });
      expect(await handle.log.verify('contoso')).toMatchObject({ ok: false, seq: 2 });
    });

    it('When a forged record is inserted behind the log (the later ones renumbered), then verification names the forged one', async () => {
      const handle = await aLog();
      for (let i = 1; i <= 4; i++) await handle.log.append('contoso', anAuditEntry({ data: { i } }));
      const list = await handle.log.list('contoso');
      // Shift 3 and 4 up by one, then put a forged record at 3 that links to 2 (hashed without the key).
      for (const r of [...list.slice(2)].reverse()) await handle.overwrite({ ...r, seq: r.seq + 1 });
      const forged = { tenantId: 'contoso', seq: 3, at: list[2].at, kind: 'approval.approved', actor: 'human:mallory', correlationId: 'x', data: { approvalId: 'fake' }, prevHash: list[1].hash };
      await handle.overwrite({ ...forged, hash: hashAuditRecord(forged) });
      expect(await handle.log.verify('contoso')).toMatchObject({ ok: false, seq: 3, problem: 'hash-mismatch' });
    });
  });
}
