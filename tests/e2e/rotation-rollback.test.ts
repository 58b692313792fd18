/**
 * A rotation that cannot be verified is undone: the previous files are restored, the endpoint is
 * verified to serve the old certificate again, the state says "rolled back", and the escalation
 * contact is told. Real TLS servers, real files, real reload hooks.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { createEmbeddedRuntime, type EmbeddedRuntime } from '../../shared/composition-root';
import { aTestConfig } from '../support/config-builders';
import { fixedClock } from '../../shared/domain/clock';
import { TlsFleet } from '../../shared/demo/tls-fleet';
import { createLogger } from '../../shared/observability/logger';
import { StaticResolver } from '../../shared/adapters/tls/system-resolver';
import { TlsProber } from '../../shared/adapters/tls/tls-prober';
import type { Notification } from '../../shared/ports/notifier';
import { aCA, aCertificate, TEST_NOW } from '../support/x509-builders';

jest.setTimeout(60_000);

let dir: string;
let fleet: TlsFleet;
let runtime: EmbeddedRuntime;
const original = new Map<string, { cert: string; key: string }>();

async function servedFingerprint(name: string): Promise<string> {
  const { address, port } = fleet.endpoint(name);
  const r = await new TlsProber().probe({ address, port, connectTimeoutMs: 1000, handshakeTimeoutMs: 2000 });
  if (!r.ok) throw new Error(r.error.message);
  return createHash('sha256').update(r.chain[0]).digest('hex');
}

const files = (name: string) => ({ certFile: path.join(dir, name, 'cert.pem'), keyFile: path.join(dir, name, 'key.pem') });

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'certops-rollback-'));
  const ca = await aCA();
  writeFileSync(path.join(dir, 'ca.pem'), ca.pem);
  for (const name of ['web', 'api', 'decoy']) {
    const leaf = await aCertificate({ daysLeft: 2, dnsNames: [`${name}.acme.test`], issuer: ca });
    mkdirSync(path.join(dir, name));
    writeFileSync(files(name).certFile, leaf.pem + ca.pem);
    writeFileSync(files(name).keyFile, leaf.key.privateKeyPem, { mode: 0o600 });
    original.set(name, { cert: leaf.pem + ca.pem, key: leaf.key.privateKeyPem });
  }
  fleet = await TlsFleet.start(['web', 'api', 'decoy'].map((name) => ({ name, ...files(name) })));
  const config = aTestConfig(dir, {
    notifications: { console: false, outboxFile: path.join(dir, 'outbox.jsonl') },
    tenants: [
      {
        id: 'acme',
        assignee: { name: 'Dana', email: 'dana@msp.example' },
        escalation: { name: 'On-call', email: 'oncall@msp.example' },
        trustedCaFiles: [path.join(dir, 'ca.pem')],
        endpoints: [
          { host: 'web.acme.test', port: fleet.endpoint('web').port, managed: 'web' },
          { host: 'api.acme.test', port: fleet.endpoint('api').port, managed: 'api' },
        ],
        managedCertificates: [
          // The reload reaches the wrong server: the files change, the endpoint does not.
          { id: 'web', dnsNames: ['web.acme.test'], issuer: 'local-ca', target: { type: 'files', ...files('web'), reload: { url: fleet.reloadUrl('decoy') } } },
          // The reload hook answers 404: the deployment itself fails after writing the files.
          { id: 'api', dnsNames: ['api.acme.test'], issuer: 'local-ca', target: { type: 'files', ...files('api'), reload: { url: `${fleet.controlUrl}/reload/nobody` } } },
        ],
      },
    ],
  });
  runtime = createEmbeddedRuntime(config, {
    logger: createLogger({ level: 'silent' }),
    clock: fixedClock(TEST_NOW),
    consoleStream: null,
    resolver: new StaticResolver({ 'web.acme.test': ['127.0.0.1'], 'api.acme.test': ['127.0.0.1'] }),
    rotation: { verifyTimeoutMs: 600, verifyInitialDelayMs: 50, verifyMaxDelayMs: 200 },
  });
  runtime.pipeline.start();
  await runtime.pipeline.sweep({ reason: 'rollback test' });
});

afterAll(async () => {
  await runtime?.close();
  await fleet?.close();
  rmSync(dir, { recursive: true, force: true });
});

it.each(['web', 'api'])('When the rotation of %s cannot be completed, then the previous files are back byte for byte', (name) => {
  expect(readFileSync(files(name).certFile, 'utf8')).toBe(original.get(name)!.cert);
  expect(readFileSync(files(name).keyFile, 'utf8')).toBe(original.get(name)!.key);
});

it('When the new certificate is never served, then the endpoint still serves the old one and the state says rolled back', async () => {
  const oldFingerprint = createHash('sha256').update(Buffer.from(original.get('web')!.cert.split('-----END CERTIFICATE-----')[0].replace(/-----BEGIN CERTIFICATE-----|\s/g, ''), 'base64')).digest('hex');
  expect(await servedFingerprint('web')).toBe(oldFingerprint);
  const state = await runtime.deps.store.getManagedState('acme', 'web');
  expect(state?.lastRotation).toMatchObject({ outcome: 'rolled-back', fromFingerprint: oldFingerprint });
  expect(state?.lastRotation?.reason).toMatch(/^verification failed: web\.acme\.test:\d+ at 127\.0\.0\.1 serves [0-9a-f]{12}/);
});

it('When a rotation fails, then the escalation contact is told what happened and that the old certificate is served again', () => {
  const sent = readFileSync(path.join(dir, 'outbox.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Notification);
  const failures = sent.filter((n) => n.kind === 'rotation-failed');
  expect(failures.map((n) => [n.subject.certificateId, n.to.name, n.severity]).sort()).toEqual([
    ['api', 'On-call', 'critical'],
    ['web', 'On-call', 'critical'],
  ]);
  const api = failures.find((n) => n.subject.certificateId === 'api')!;
  expect(api.text).toMatch(/deployment failed: .*404/);
  expect(api.text).toMatch(/The previous certificate is still what is served \(verified\)/);
  expect(sent.filter((n) => n.kind === 'rotation-completed')).toEqual([]);
});

it('When a rotation is rolled back, then the audit records every transition of the state machine in order, once', async () => {
  const records = (await runtime.deps.audit.list('acme')).filter((r) => r.data.certificateId === 'web');
  expect(records.map((r) => r.kind)).toEqual(['gate.decided', 'rotation.planned', 'certificate.issued', 'certificate.deployed', 'rotation.rolling-back', 'certificate.restored', 'rotation.failed']);
  expect(records.slice(1).map((r) => r.data.state)).toEqual(['planned', 'issued', 'deployed', 'rolling-back', 'rolled-back', 'escalated']);
});

it('When a rotation has escalated, then its persisted record is closed: no lease, the staged key deleted, the history complete', async () => {
  const rotation = (await runtime.deps.store.getManagedState('acme', 'web'))?.rotation;
  expect(rotation).toMatchObject({ state: 'escalated', lease: null, restored: true, restoredVerified: true, failure: { step: 'verify' } });
  expect(rotation?.history.map((h) => h.state)).toEqual(['planned', 'issued', 'deployed', 'rolling-back', 'rolled-back', 'escalated']);
  expect(await runtime.deps.keys.get('acme', rotation!.issued!.keyName)).toBeNull();
});
