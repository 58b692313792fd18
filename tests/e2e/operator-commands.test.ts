/**
 * An operator's two commands on one certificate, outside any sweep: `certops renew` (a suspected
 * key compromise: replace it now) and `certops rollback` (the human override of the L1 loop: the
 * new certificate broke something, put the old one back). Both go through the rotation engine:
 * the rollback restores the previous files, verifies by handshake that the old certificate is
 * served again, records who and why, and tells the escalation contact.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { main } from '../../shared/cli/main';
import { TlsFleet } from '../../shared/demo/tls-fleet';
import { TlsProber } from '../../shared/adapters/tls/tls-prober';
import { SqliteAuditLog, auditChainKey } from '../../shared/adapters/local/sqlite-audit-log';
import { openDatabase, closeDatabase } from '../../shared/adapters/local/sqlite-database';
import { loadOrCreateMasterKey } from '../../shared/adapters/local/sqlite-key-store';
import { systemClock } from '../../shared/domain/clock';
import type { Notification } from '../../shared/ports/notifier';
import { aCA, aCertificate, TEST_NOW } from '../support/x509-builders';

jest.setTimeout(30_000);

let dir: string;
let fleet: TlsFleet;
let configFile: string;
let oldFingerprint: string;
const files = () => ({ certFile: path.join(dir, 'web', 'cert.pem'), keyFile: path.join(dir, 'web', 'key.pem') });

async function run(...argv: string[]): Promise<{ code: number; text: string }> {
  let text = '';
  const out = new Writable({ write: (c, _e, cb) => ((text += String(c)), cb()) });
  const code = await main([...argv, '--config', configFile], out);
  return { code, text };
}

async function served(): Promise<string> {
  const { address, port } = fleet.endpoint('web');
  const r = await new TlsProber().probe({ address, port, servername: 'web.acme.test', connectTimeoutMs: 1000, handshakeTimeoutMs: 2000 });
  if (!r.ok) throw new Error(r.error.message);
  return createHash('sha256').update(r.chain[0]).digest('hex');
}

const outbox = (): Notification[] => readFileSync(path.join(dir, 'outbox.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Notification);

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'certops-operator-'));
  mkdirSync(path.join(dir, 'web'));
  const ca = await aCA();
  writeFileSync(path.join(dir, 'ca.pem'), ca.pem);
  // Healthy (300 days left today; the builders count from TEST_NOW, the CLI from the real clock):
  // no sweep would touch it, only the operator's request does.
  const daysLeft = Math.ceil((Date.now() - TEST_NOW.getTime()) / 86_400_000) + 300;
  const leaf = await aCertificate({ daysLeft, dnsNames: ['web.acme.test'], issuer: ca });
  oldFingerprint = leaf.certificate.fingerprintSha256;
  writeFileSync(files().certFile, leaf.pem + ca.pem);
  writeFileSync(files().keyFile, leaf.key.privateKeyPem, { mode: 0o600 });
  fleet = await TlsFleet.start([{ name: 'web', ...files() }]);
  configFile = path.join(dir, 'certops.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      dataDir: path.join(dir, 'data'),
      notifications: { console: false, outboxFile: path.join(dir, 'outbox.jsonl') },
      hosts: { 'web.acme.test': ['127.0.0.1'] },
      tenants: [
        {
          id: 'acme',
          assignee: { name: 'Dana' },
          escalation: { name: 'On-call' },
          policy: { renewal: { renewBeforeDays: 30 } },
          trustedCaFiles: [path.join(dir, 'ca.pem')],
          endpoints: [{ host: 'web.acme.test', port: fleet.endpoint('web').port, managed: 'web' }],
          managedCertificates: [{ id: 'web', dnsNames: ['web.acme.test'], issuer: 'local-ca', target: { type: 'files', ...files(), reload: { url: fleet.reloadUrl('web') } } }],
        },
      ],
    }),
  );
  // The inventory knows what is served before the operator acts; the sweep itself renews nothing.
  expect((await run('run')).code).toBe(0);
  expect(readFileSync(files().certFile, 'utf8')).toBe(leaf.pem + ca.pem);
});

afterAll(async () => {
  await fleet?.close();
  rmSync(dir, { recursive: true, force: true });
});

it('When an operator renews a healthy certificate, then it is replaced now and verified serving', async () => {
  const { code, text } = await run('renew', '--tenant', 'acme', 'web', '--reason', 'key compromise suspected');
  expect(text).toMatch(/^renewal renew-\S+: committed [0-9a-f]{16}$/m);
  expect(code).toBe(0);
  const now = await served();
  expect(now).not.toBe(oldFingerprint);
  expect(text).toContain(now.slice(0, 16));
  expect(outbox().filter((n) => n.kind === 'rotation-completed')).toHaveLength(1);
});

it('When the operator then rolls it back, then the old certificate is served again, verified, and the escalation contact is told who and why', async () => {
  const { code, text } = await run('rollback', '--tenant', 'acme', 'web', '--reason', 'the payment app pins the old key');
  expect(text).toContain(`the previous certificate ${oldFingerprint.slice(0, 16)} is served again (verified)`);
  expect(code).toBe(0);
  expect(await served()).toBe(oldFingerprint);
  const failed = outbox().filter((n) => n.kind === 'rotation-failed');
  expect(failed.map((n) => n.to.name)).toEqual(['On-call']);
  expect(failed[0].text).toContain(`override by cli:${os.userInfo().username}: the payment app pins the old key`);
});

it('When a rollback was made, then the audit holds it with who, when and why, and the chain verifies', async () => {
  const db = openDatabase(path.join(dir, 'data', 'certops.db'));
  try {
    const audit = new SqliteAuditLog(db, systemClock, auditChainKey(loadOrCreateMasterKey(path.join(dir, 'data'), {})));
    const override = (await audit.list('acme')).find((r) => r.kind === 'rotation.rolling-back')!;
    expect(override.data).toMatchObject({ step: 'override', actor: `cli:${os.userInfo().username}`, reason: expect.stringContaining('pins the old key') });
    expect(Date.parse(override.at)).toBeGreaterThan(Date.now() - 60_000);
    expect((await audit.verify('acme')).ok).toBe(true);
  } finally {
    closeDatabase(db);
  }
});

it('When there is nothing committed to undo, then rollback refuses with the reason', async () => {
  await expect(run('rollback', '--tenant', 'acme', 'web', '--reason', 'again')).rejects.toThrow(/ended escalated; there is nothing committed to roll back/);
  expect(await served()).toBe(oldFingerprint);
});
