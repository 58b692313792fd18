/**
 * The AuditHeadLog contract against FileAuditHeadLog (a JSON-lines file opened O_APPEND, fsynced,
 * mode 0600), plus what only a file has: a write torn by a crash, and its mode. Each instance of a
 * test is another FileAuditHeadLog on the same file; `appendRaw` writes to the file directly.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FileAuditHeadLog } from '../../shared/adapters/local/file-audit-head-log';
import { checkHeadLog } from '../../shared/domain/signed-head';
import { headSignerFrom } from '../../shared/adapters/local/ed25519-head-signer';
import { aHeadAfter, auditHeadLogContract } from './audit-head-log.contract';

let dir: string;
const file = () => path.join(dir, 'audit-heads.jsonl');
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certops-head-log-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

auditHeadLogContract('FileAuditHeadLog', async () => ({
  log: new FileAuditHeadLog(file()),
  appendRaw: async (text) => fs.appendFileSync(file(), text),
  close: async () => undefined,
}));

describe('FileAuditHeadLog on disk', () => {
  const signer = headSignerFrom(Buffer.alloc(32, 9));
  const verify = (payload: Buffer, signature: string, keyId: string) => signer.verify(payload, signature, keyId);

  it('When a crash tore the last line, then reading leaves it out, and the next append cuts it off and links to the last whole line', async () => {
    const log = new FileAuditHeadLog(file());
    const first = await aHeadAfter(await log.end(), 'contoso', 1);
    await log.append(first);
    fs.appendFileSync(file(), '{"index":2,"prev":"ab'); // the crash: half a line, no newline

    expect((await log.read()).map((e) => e.head)).toEqual([first]);
    expect(await log.end()).toMatchObject({ index: 1 });
    const second = await aHeadAfter(await log.end(), 'contoso', 2);
    await log.append(second);

    expect(fs.readFileSync(file(), 'utf8').split('\n').filter(Boolean)).toHaveLength(2);
    expect(await checkHeadLog(await log.read(), verify)).toEqual([]);
  });

  it('When the file is created, or was left readable by others, then an append leaves it 0600', async () => {
    const umask = process.umask(0o022);
    try {
      const log = new FileAuditHeadLog(file());
      await log.append(await aHeadAfter(await log.end(), 'contoso', 1));
      expect(fs.statSync(file()).mode & 0o777).toBe(0o600);
      fs.chmodSync(file(), 0o644);
      await log.append(await aHeadAfter(await log.end(), 'contoso', 2));
      expect(fs.statSync(file()).mode & 0o777).toBe(0o600);
    } finally {
      process.umask(umask);
    }
  });

  it('When the file is longer than the tail read first, and its last line alone is too, then the end is still found from the tail', async () => {
    const log = new FileAuditHeadLog(file());
    for (let seq = 1; seq <= 40; seq++) await log.append(await aHeadAfter(await log.end(), `tenant-${'x'.repeat(300)}-${seq % 3}`, seq));
    await log.append(await aHeadAfter(await log.end(), `tenant-${'y'.repeat(40_000)}`, 41));
    expect(fs.statSync(file()).size).toBeGreaterThan(60 * 1024);
    expect(await log.end()).toMatchObject({ index: 41 });
    expect(await checkHeadLog(await log.read(), verify)).toEqual([]);
  });
});
