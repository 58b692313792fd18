/**
 * Issue 11, defect 6: the data directory holds the audit, the inventory, the approvals and the
 * master key. Only certops' own user may read it: the directory 0700, the database (and SQLite's
 * -wal and -shm files beside it), the master key and the audit head log 0600, whatever the umask;
 * an installation made before this is tightened at start; a master key others can read is refused.
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { createEmbeddedRuntime } from '../../shared/composition-root';
import { createLogger } from '../../shared/observability/logger';
import { signAuditHeads } from '../../shared/pipeline/audit-heads';
import { aTestConfig } from '../support/config-builders';

let dir: string;
let umask: number;
const dataDir = () => path.join(dir, 'data');
const mode = (file: string) => statSync(file).mode & 0o777;
const config = () => aTestConfig(dir, { tenants: [{ id: 'contoso', assignee: { name: 'Dana' }, endpoints: [] }] as never });

beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'certops-perms-'));
  umask = process.umask(0o022); // the usual default, which made everything world-readable
});
afterEach(() => {
  process.umask(umask);
  rmSync(dir, { recursive: true, force: true });
});

async function startAppendAndSign(): Promise<void> {
  const runtime = createEmbeddedRuntime(config(), { notify: false, logger: createLogger({ level: 'silent' }) });
  try {
    await runtime.deps.audit.append('contoso', { kind: 'certificate.discovered', actor: 'stage:discover', correlationId: 'c', data: {} });
    await signAuditHeads(runtime.deps);
    // While the runtime is open the WAL and shared-memory files exist: check them too.
    for (const suffix of ['-wal', '-shm']) expect({ file: suffix, mode: mode(path.join(dataDir(), `certops.db${suffix}`)) }).toEqual({ file: suffix, mode: 0o600 });
  } finally {
    await runtime.close();
  }
}

describe('Issue 11 defect 6: files are world-readable', () => {
  it('When certops starts on a fresh data directory, then the directory is 0700 and the database, its WAL files, the master key and the head log are 0600', async () => {
    await startAppendAndSign();

    expect(mode(dataDir())).toBe(0o700);
    for (const file of ['certops.db', 'master.key', 'audit-heads.jsonl']) expect({ file, mode: mode(path.join(dataDir(), file)) }).toEqual({ file, mode: 0o600 });
  });

  it('When an installation made before was left world-readable, then certops tightens its directory and database at start', async () => {
    mkdirSync(dataDir(), { mode: 0o755 });
    new BetterSqlite3(path.join(dataDir(), 'certops.db')).close();
    chmodSync(dataDir(), 0o755);
    chmodSync(path.join(dataDir(), 'certops.db'), 0o644);

    await startAppendAndSign();

    expect(mode(dataDir())).toBe(0o700);
    expect(mode(path.join(dataDir(), 'certops.db'))).toBe(0o600);
  });

  it('When master.key can be read by others, then certops refuses to start and says how to fix it (chmod 600)', () => {
    mkdirSync(dataDir(), { recursive: true });
    const keyFile = path.join(dataDir(), 'master.key');
    writeFileSync(keyFile, `${Buffer.alloc(32, 1).toString('base64')}\n`);
    chmodSync(keyFile, 0o644);

    expect(() => createEmbeddedRuntime(config(), { notify: false, logger: createLogger({ level: 'silent' }), env: {} })).toThrow(
      `chmod 600 ${keyFile}`,
    );
    expect(existsSync(keyFile)).toBe(true); // refused, not replaced
  });
});
