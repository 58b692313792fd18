/**
 * /metrics after an end-to-end run on the embedded runtime: every counter equals what happened in
 * the run, counted independently (the bus's settlements, the audit trail, the outbox, the
 * inventory), and the endpoint is the MSP admin's only.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadOrCreateLocalSigningKey, mintLocalToken } from '../../shared/api/auth';
import { apiFor } from '../../shared/api/compose';
import { startApiServer, type ApiServer } from '../../shared/api/http-server';
import { StaticResolver } from '../../shared/adapters/tls/system-resolver';
import { createEmbeddedRuntime, type EmbeddedRuntime } from '../../shared/composition-root';
import { TlsFleet } from '../../shared/demo/tls-fleet';
import { createLogger } from '../../shared/observability/logger';
import { parsePrometheusText } from '../../shared/observability/metrics';
import { inventory } from '../../shared/pipeline/inventory';
import { aTestConfig } from '../support/config-builders';
import { aCA, aCertificate } from '../support/x509-builders';

jest.setTimeout(60_000);

let dir: string;
let fleet: TlsFleet;
let runtime: EmbeddedRuntime;
let api: ApiServer;
let samples: ReturnType<typeof parsePrometheusText>;
const settled = new Map<string, number>();

const value = (name: string, labels: Record<string, string> = {}): number =>
  samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((n, s) => n + s.value, 0);

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'certops-metrics-'));
  const ca = await aCA();
  writeFileSync(path.join(dir, 'ca.pem'), ca.pem);
  const names = ['managed', 'expired', 'healthy'];
  for (const [name, daysLeft] of [['managed', 2], ['expired', -5], ['healthy', 2000]] as const) {
    const leaf = await aCertificate({ daysLeft, dnsNames: [`${name}.acme.test`], issuer: ca });
    writeFileSync(path.join(dir, `${name}.pem`), leaf.pem + ca.pem);
    writeFileSync(path.join(dir, `${name}.key`), leaf.key.privateKeyPem);
  }
  fleet = await TlsFleet.start(names.map((name) => ({ name, certFile: path.join(dir, `${name}.pem`), keyFile: path.join(dir, `${name}.key`) })));
  const config = aTestConfig(dir, {
    notifications: { console: false, outboxFile: path.join(dir, 'outbox.jsonl') },
    api: { auth: { mode: 'local' } },
    tenants: [
      {
        id: 'acme',
        assignee: { name: 'Dana' },
        trustedCaFiles: [path.join(dir, 'ca.pem')],
        endpoints: names.map((name) => ({ host: `${name}.acme.test`, port: fleet.endpoint(name).port, ...(name === 'managed' ? { managed: 'web' } : {}) })),
        managedCertificates: [
          { id: 'web', dnsNames: ['managed.acme.test'], issuer: 'local-ca', target: { type: 'files', certFile: path.join(dir, 'managed.pem'), keyFile: path.join(dir, 'managed.key'), reload: { url: fleet.reloadUrl('managed') } } },
        ],
      },
    ],
  });
  runtime = createEmbeddedRuntime(config, {
    logger: createLogger({ level: 'silent' }),
    consoleStream: null,
    resolver: new StaticResolver(Object.fromEntries(names.map((n) => [`${n}.acme.test`, ['127.0.0.1']]))),
    rotation: { verifySettleMs: 0, verifyConfirmations: 1 },
    observer: (stage, outcome) => settled.set(`${stage}:${outcome}`, (settled.get(`${stage}:${outcome}`) ?? 0) + 1),
  });
  runtime.pipeline.start();
  await runtime.pipeline.sweep({ reason: 'metrics' });
  api = await startApiServer(apiFor(runtime));
  const { privateKey } = loadOrCreateLocalSigningKey(config.dataDir);
  const admin = await mintLocalToken(privateKey, { subject: 'ada', roles: ['MspAdmin'], ttlSeconds: 600 });
  const response = await fetch(`${api.url}/metrics`, { headers: { authorization: `Bearer ${admin}` } });
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  samples = parsePrometheusText(await response.text());
});

afterAll(async () => {
  await api?.close();
  await runtime?.close();
  await fleet?.close();
  rmSync(dir, { recursive: true, force: true });
});

it('When the run is over, then the stage counters equal the messages the bus settled, per stage', () => {
  expect(settled.size).toBeGreaterThan(0);
  for (const [key, count] of settled) {
    const [stage, outcome] = key.split(':');
    expect([stage, value('certops_stage_messages_total', { stage, outcome: outcome === 'completed' ? 'completed' : 'dead_letter' })]).toEqual([stage, count]);
  }
});

it('When the run is over, then gate decisions, rotations and notifications equal the audit trail and the outbox', async () => {
  const audit = await runtime.deps.audit.list('acme');
  expect(value('certops_gate_decisions_total', { tenant: 'acme' })).toBe(audit.filter((r) => r.kind === 'gate.decided').length);
  expect(value('certops_gate_decisions_total', { tenant: 'acme', level: 'L1' })).toBe(1);
  expect(value('certops_rotations_total', { tenant: 'acme', outcome: 'committed' })).toBe(audit.filter((r) => r.kind === 'rotation.committed').length);
  expect(value('certops_rotations_total', { tenant: 'acme', outcome: 'committed' })).toBe(1);
  const outbox = readFileSync(path.join(dir, 'outbox.jsonl'), 'utf8').split('\n').filter(Boolean);
  expect(value('certops_notifications_total', { tenant: 'acme', channel: 'outbox', result: 'sent' })).toBe(outbox.length);
  expect(value('certops_overrides_total', { tenant: 'acme' })).toBe(0);
});

it('When the run is over, then the certificate gauges equal the inventory', async () => {
  const rows = await inventory(runtime.deps.store, ['acme']);
  const distinct = new Map(rows.filter((r) => r.fingerprint).map((r) => [r.fingerprint, r.status]));
  for (const status of new Set(distinct.values())) {
    expect([status, value('certops_certificates', { tenant: 'acme', status })]).toEqual([status, [...distinct.values()].filter((s) => s === status).length]);
  }
});

it('When a technician asks for /metrics, then it is refused: it shows every tenant', async () => {
  const { privateKey } = loadOrCreateLocalSigningKey(runtime.config.dataDir);
  const technician = await mintLocalToken(privateKey, { subject: 'dana', roles: ['Technician.acme'], ttlSeconds: 600 });
  expect((await fetch(`${api.url}/metrics`, { headers: { authorization: `Bearer ${technician}` } })).status).toBe(403);
  expect((await fetch(`${api.url}/metrics`)).status).toBe(401);
});
