/**
 * The AuditHeadLog contract (shared/ports/audit-head-log.ts), written once and run against every
 * adapter: `auditHeadLogContract('FileAuditHeadLog', makeLog)`. Every `makeLog` call within one
 * test opens another instance over the same storage (another process, or a restart). The handle's
 * `appendRaw` writes bytes at the end of the log behind the adapter's back, as someone with write
 * access to the storage would.
 */
import { headSignerFrom } from '../../shared/adapters/local/ed25519-head-signer';
import { checkHeadLog, HEAD_LOG_GENESIS, headLine, lineHash, signedHeadPayload, type SignedHead } from '../../shared/domain/signed-head';
import { HeadLogConflictError, type AuditHeadLog } from '../../shared/ports/audit-head-log';

export interface AuditHeadLogHandle {
  log: AuditHeadLog;
  /** Appends `text` (a line, with its newline) at the end of the stored log, bypassing the adapter. */
  appendRaw(text: string): Promise<void>;
  close(): Promise<void>;
}

export type MakeAuditHeadLog = () => Promise<AuditHeadLogHandle>;

const signer = headSignerFrom(Buffer.alloc(32, 9));
const verifySignature = (payload: Buffer, signature: string, keyId: string) => signer.verify(payload, signature, keyId);

/** A head signed for the entry after `end`, as signAuditHeads makes it. */
export async function aHeadAfter(end: { index: number; lineHash: string }, tenantId: string, seq: number): Promise<SignedHead> {
  const unsigned = { index: end.index + 1, prev: end.lineHash, tenantId, seq, hash: seq.toString(16).padStart(64, '0'), signedAt: '2025-03-01T00:05:00.000Z', keyId: signer.keyId, algorithm: signer.algorithm };
  return { ...unsigned, signature: await signer.sign(signedHeadPayload(unsigned)) };
}

async function appendNext(log: AuditHeadLog, tenantId: string, seq: number): Promise<SignedHead> {
  const head = await aHeadAfter(await log.end(), tenantId, seq);
  await log.append(head);
  return head;
}

export function auditHeadLogContract(name: string, makeLog: MakeAuditHeadLog): void {
  describe(`${name} (AuditHeadLog contract)`, () => {
    const open: AuditHeadLogHandle[] = [];
    async function aLog(): Promise<AuditHeadLogHandle> {
      const handle = await makeLog();
      open.push(handle);
      return handle;
    }
    afterEach(async () => {
      for (const handle of open.splice(0)) await handle.close();
    });

    it('When nothing was appended, then the log ends at genesis and has no entries, heads or tenants', async () => {
      const { log } = await aLog();
      expect(await log.end()).toEqual({ index: 0, lineHash: HEAD_LOG_GENESIS });
      expect(await log.read()).toEqual([]);
      expect(await log.latest('contoso')).toBeNull();
      expect(await log.heads('contoso')).toEqual([]);
      expect(await log.tenants()).toEqual([]);
    });

    it('When heads are appended, then each links to the line before it, the log verifies, and the views follow', async () => {
      const { log } = await aLog();
      const first = await appendNext(log, 'contoso', 3);
      const second = await appendNext(log, 'fabrikam', 7);
      const third = await appendNext(log, 'contoso', 5);

      const entries = await log.read();
      expect(entries.map((e) => e.head)).toEqual([first, second, third]);
      expect(entries.map((e) => e.position)).toEqual([1, 2, 3]);
      expect(second.prev).toBe(lineHash(headLine(first)));
      expect(await log.end()).toEqual({ index: 3, lineHash: lineHash(headLine(third)) });
      expect(await checkHeadLog(entries, verifySignature)).toEqual([]);
      expect(await log.latest('contoso')).toEqual(third);
      expect(await log.heads('contoso')).toEqual([first, third]);
      expect(await log.tenants()).toEqual(['contoso', 'fabrikam']);
    });

    it('When a head does not follow the end (a stale index, or another predecessor), then it is refused and nothing is written', async () => {
      const { log } = await aLog();
      const first = await appendNext(log, 'contoso', 1);
      const stale = await aHeadAfter({ index: 0, lineHash: HEAD_LOG_GENESIS }, 'contoso', 2);
      const wrongPrev = await aHeadAfter({ index: 1, lineHash: 'f'.repeat(64) }, 'contoso', 2);

      await expect(log.append(stale)).rejects.toBeInstanceOf(HeadLogConflictError);
      await expect(log.append(wrongPrev)).rejects.toBeInstanceOf(HeadLogConflictError);

      expect((await log.read()).map((e) => e.head)).toEqual([first]);
    });

    it('When two instances sign on the same end, then one append wins, the other is refused, and after signing again the log is one unbroken chain', async () => {
      const a = (await aLog()).log;
      const b = (await aLog()).log;
      await appendNext(a, 'contoso', 1);
      const end = await b.end();
      const fromA = await aHeadAfter(end, 'contoso', 2);
      const fromB = await aHeadAfter(end, 'fabrikam', 1);

      const outcomes = await Promise.allSettled([a.append(fromA), b.append(fromB)]);
      expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
      const lost = outcomes.find((o) => o.status === 'rejected') as PromiseRejectedResult;
      expect(lost.reason).toBeInstanceOf(HeadLogConflictError);
      const loser = outcomes[0].status === 'rejected' ? a : b;
      await appendNext(loser, loser === a ? 'contoso' : 'fabrikam', 9);

      const entries = await a.read();
      expect(entries).toHaveLength(3);
      expect(await checkHeadLog(entries, verifySignature)).toEqual([]);
    });

    it('When the log is opened again, then it continues where it stopped, and another instance sees what was appended since', async () => {
      const first = await aLog();
      const watcher = await aLog();
      await appendNext(first.log, 'contoso', 1);
      expect(await watcher.log.latest('contoso')).toMatchObject({ seq: 1 });

      const reopened = await aLog();
      const next = await appendNext(reopened.log, 'contoso', 2);

      expect(next.index).toBe(2);
      expect(await watcher.log.latest('contoso')).toEqual(next);
      expect(await checkHeadLog(await first.log.read(), verifySignature)).toEqual([]);
    });

    it('When a line that is not a head was written at the end behind the log, then it is read as malformed (not thrown), the views skip it, and the next head follows its position', async () => {
      const handle = await aLog();
      const first = await appendNext(handle.log, 'contoso', 1);
      await handle.appendRaw('{"tenantId":"contoso","seq":"two"}\n');

      const entries = await handle.log.read();
      expect(entries[1]).toMatchObject({ position: 2, head: null, tenantId: 'contoso', problem: expect.stringContaining('seq is not a positive integer') });
      expect(await handle.log.latest('contoso')).toEqual(first);
      const next = await appendNext(handle.log, 'contoso', 3);
      expect(next).toMatchObject({ index: 3, prev: entries[1].lineHash });
      const findings = await checkHeadLog(await handle.log.read(), verifySignature);
      expect(findings).toEqual([{ tenantId: 'contoso', position: 2, message: expect.stringMatching(/^head log entry 2 is malformed/) }]);
    });
  });
}
