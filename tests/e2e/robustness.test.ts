/**
 * Bad input never stops a sweep: a malformed event, a malformed certificate, an unreachable host,
 * a refused port, a peer that sends garbage and a peer that accepts and never answers each end in
 * a clear recorded outcome within a bounded time, while a healthy endpoint beside them is analyzed.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createEmbeddedRuntime, type EmbeddedRuntime } from '../../shared/composition-root';
import { aTestConfig } from '../support/config-builders';
import { cloudEvent } from '../../shared/domain/events';
import { startMisbehavingPeers, TlsFleet, type MisbehavingPeers } from '../../shared/demo/tls-fleet';
import { createLogger } from '../../shared/observability/logger';
import { StaticResolver } from '../../shared/adapters/tls/system-resolver';
import { inventory } from '../../shared/pipeline/inventory';
import { EVENT_TYPES, topicOf } from '../../shared/pipeline/topology';
import { aCA, aCertificate, TEST_NOW } from '../support/x509-builders';
import { fixedClock } from '../../shared/domain/clock';

jest.setTimeout(60_000);

const CONNECT_TIMEOUT_MS = 500;
const HANDSHAKE_TIMEOUT_MS = 1000;

let dir: string;
let fleet: TlsFleet;
let peers: MisbehavingPeers;
let runtime: EmbeddedRuntime;
let sweepMs: number;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'certops-robust-'));
  const ca = await aCA();
  const leaf = await aCertificate({ daysLeft: 300, dnsNames: ['healthy.acme.test'], issuer: ca });
  writeFileSync(path.join(dir, 'ca.pem'), ca.pem);
  writeFileSync(path.join(dir, 'cert.pem'), leaf.pem + ca.pem);
  writeFileSync(path.join(dir, 'key.pem'), leaf.key.privateKeyPem);
  fleet = await TlsFleet.start([{ name: 'healthy', certFile: path.join(dir, 'cert.pem'), keyFile: path.join(dir, 'key.pem') }]);
  peers = await startMisbehavingPeers();

  const healthy = fleet.endpoint('healthy');
  const hosts: Record<string, string[]> = {
    'healthy.acme.test': [healthy.address],
    'garbage.acme.test': [peers.garbage.address],
    'silent.acme.test': [peers.silent.address],
    'refused.acme.test': ['127.0.0.1'],
  };
  const endpoints = [
    { host: 'healthy.acme.test', port: healthy.port },
    { host: 'garbage.acme.test', port: peers.garbage.port },
    { host: 'silent.acme.test', port: peers.silent.port },
    { host: 'refused.acme.test', port: peers.refusedPort },
    { host: 'nowhere.acme.test', port: 443 },
  ];
  if (peers.blackhole) {
    hosts['blackhole.acme.test'] = [peers.blackhole.address];
    endpoints.push({ host: 'blackhole.acme.test', port: peers.blackhole.port });
  }
  const config = aTestConfig(dir, {
    discovery: { concurrency: 8, connectTimeoutMs: CONNECT_TIMEOUT_MS, handshakeTimeoutMs: HANDSHAKE_TIMEOUT_MS },
    tenants: [
      { id: 'acme', assignee: { name: 'Carol' }, trustedCaFiles: [path.join(dir, 'ca.pem')], endpoints },
      // Only fed by the injected observation below (not swept): events may name only a tenant's own endpoints.
      { id: 'lab', assignee: { name: 'Carol' }, endpoints: [{ host: 'broken.acme.test', port: 443 }] },
    ],
  });
  runtime = createEmbeddedRuntime(config, {
    logger: createLogger({ level: 'silent' }),
    clock: fixedClock(TEST_NOW),
    resolver: new StaticResolver(hosts),
    consoleStream: null,
    bus: { maxDeliveryCount: 2, retryBaseDelayMs: 10 },
  });
  runtime.pipeline.start();

  // Foreign producers put bad messages on the topics before the sweep.
  await runtime.bus.publishRaw(topicOf(EVENT_TYPES.discoveryRequested), [
    { hello: 'not a cloud event' },
    cloudEvent({
      id: 'bad-data',
      type: EVENT_TYPES.discoveryRequested,
      source: '/elsewhere',
      time: new Date(),
      tenantId: 'acme',
      correlationId: 'c-1',
      data: { sweepId: 's', endpoint: { host: 'x.acme.test', port: 99999 } },
    }),
  ]);
  // A discovered chain whose "certificate" is not DER at all.
  await runtime.bus.publish(topicOf(EVENT_TYPES.endpointDiscovered), [
    cloudEvent({
      id: 'malformed-cert',
      type: EVENT_TYPES.endpointDiscovered,
      source: '/certops/discover',
      time: new Date(),
      tenantId: 'lab',
      correlationId: 'c-2',
      data: {
        sweepId: 'foreign',
        endpoint: { endpointId: 'broken.acme.test:443', host: 'broken.acme.test', port: 443, servername: 'broken.acme.test', managedCertificateId: null },
        observedAt: new Date().toISOString(),
        resolutionError: null,
        addresses: [{ address: '127.0.0.1', outcome: 'ok', chain: [Buffer.from('definitely not a certificate').toString('base64')], protocol: 'TLSv1.3', error: null, durationMs: 1 }],
      },
    }),
  ]);

  const started = Date.now();
  await runtime.pipeline.sweep({ reason: 'robustness', tenantIds: ['acme'] });
  sweepMs = Date.now() - started;
});

afterAll(async () => {
  await runtime?.close();
  await fleet?.close();
  await peers?.close();
  rmSync(dir, { recursive: true, force: true });
});

it('When every kind of broken endpoint is swept, then the sweep finishes within the probe timeouts', () => {
  expect(sweepMs).toBeLessThan(CONNECT_TIMEOUT_MS + HANDSHAKE_TIMEOUT_MS + 2000);
});

it.each([
  ['a healthy endpoint beside them', 'healthy.acme.test', 'healthy', []],
  ['a peer that sends garbage', 'garbage.acme.test', 'unobserved', ['handshake-failed']],
  ['a peer that accepts and never answers', 'silent.acme.test', 'unobserved', ['handshake-timeout']],
  ['a refused port', 'refused.acme.test', 'unobserved', ['connection-refused']],
  ['a name that does not resolve', 'nowhere.acme.test', 'unobserved', ['name-resolution-failed']],
  ['a malformed certificate', 'broken.acme.test', 'unobserved', ['malformed-certificate']],
])('When it meets %s (%s), then it records %s with %j', async (_case, host, status, codes) => {
  const rows = (await inventory(runtime.deps.store, ['acme', 'lab'])).filter((r) => r.endpoint.startsWith(`${host}:`));
  expect(rows).toHaveLength(1);
  expect(rows[0].status).toBe(status);
  expect(rows[0].findings.map((f) => f.code)).toEqual(codes);
  if (codes.length > 0) expect(rows[0].findings[0].message).toMatch(/; .+\.$/); // says what to do next
});

it('When the kernel drops SYNs to a full listener, then the endpoint is recorded unreachable (or the test says why it cannot be staged)', async () => {
  if (!peers.blackhole) {
    expect(peers.blackholeUnavailableReason).toBeTruthy();
    return;
  }
  const rows = (await inventory(runtime.deps.store, ['acme'])).filter((r) => r.endpoint.startsWith('blackhole.acme.test:'));
  expect(rows.map((r) => r.findings.map((f) => f.code))).toEqual([['endpoint-unreachable']]);
});

it('When malformed events arrive, then each is dead-lettered with its validation errors as the reason, and nothing else is', async () => {
  const dead = await runtime.bus.deadLetters();
  expect(dead.map((d) => [d.subscription, d.reason])).toEqual([
    ['discover@discovery-requested', 'InvalidEvent'],
    ['discover@discovery-requested', 'InvalidEvent'],
  ]);
  const descriptions = dead.map((d) => d.description ?? '').join('\n');
  expect(descriptions).toMatch(/event requires property "specversion"/);
  expect(descriptions).toMatch(/data.endpoint.port must be less than or equal to 65535/);
  expect(descriptions).toMatch(/data.endpoint requires property "endpointId"/);
});
