/**
 * Tenant isolation at the stage boundary: an event whose envelope says tenant A but whose data
 * names tenant B's endpoint or certificate (forged, or misrouted by a foreign producer) is refused
 * and dead-lettered with the reason; nothing is probed, stored, rotated or notified for it.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createEmbeddedRuntime, type EmbeddedRuntime } from '../../shared/composition-root';
import { StaticResolver } from '../../shared/adapters/tls/system-resolver';
import { TlsFleet } from '../../shared/demo/tls-fleet';
import { cloudEvent } from '../../shared/domain/events';
import { fixedClock } from '../../shared/domain/clock';
import { createLogger } from '../../shared/observability/logger';
import { endpointRef } from '../../shared/pipeline/endpoints';
import { EVENT_TYPES, topicOf, type EventType } from '../../shared/pipeline/topology';
import { decideGate } from '../../shared/domain/gate-policy';
import { aTestConfig } from '../support/config-builders';
import { aCertificate, TEST_NOW } from '../support/x509-builders';

jest.setTimeout(30_000);

let dir: string;
let fleet: TlsFleet;
let runtime: EmbeddedRuntime;
let bEndpoint: ReturnType<typeof endpointRef>;

const decision = decideGate({ tenantId: 'alpha', action: 'rotate', tenantLevels: { rotate: 'L0' }, assignee: { name: 'Mallory' }, subject: 'certificate shop' });

function forged<T>(type: EventType, data: T, id: string) {
  return cloudEvent({ id, type, source: '/elsewhere', time: TEST_NOW, tenantId: 'alpha', correlationId: `forged-${id}`, data });
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'certops-scope-'));
  const leaf = await aCertificate({ dnsNames: ['shop.beta.test'], daysLeft: 2 });
  writeFileSync(path.join(dir, 'cert.pem'), leaf.pem);
  writeFileSync(path.join(dir, 'key.pem'), leaf.key.privateKeyPem);
  fleet = await TlsFleet.start([{ name: 'beta', certFile: path.join(dir, 'cert.pem'), keyFile: path.join(dir, 'key.pem') }]);
  const betaEndpoint = { host: 'shop.beta.test', port: fleet.endpoint('beta').port, managed: 'shop' };
  bEndpoint = endpointRef(betaEndpoint);
  runtime = createEmbeddedRuntime(
    aTestConfig(dir, {
      tenants: [
        { id: 'alpha', assignee: { name: 'Ann' }, endpoints: [{ host: 'www.alpha.test', port: 443 }] },
        {
          id: 'beta',
          assignee: { name: 'Ben' },
          endpoints: [betaEndpoint],
          managedCertificates: [{ id: 'shop', dnsNames: ['shop.beta.test'], issuer: 'local-ca', target: { type: 'files', certFile: path.join(dir, 'cert.pem'), keyFile: path.join(dir, 'key.pem') } }],
        },
      ],
    }),
    {
      logger: createLogger({ level: 'silent' }),
      clock: fixedClock(TEST_NOW),
      consoleStream: null,
      resolver: new StaticResolver({ 'shop.beta.test': ['127.0.0.1'], 'www.alpha.test': ['127.0.0.1'] }),
    },
  );
  const request = { sweepId: 'forged', certificateId: 'shop', endpointId: bEndpoint.endpointId, currentFingerprint: null, observedAt: '2026-01-01T00:00:00.000Z', notAfter: null, status: 'critical', reason: 'forged', replaces: null };
  const events = [
    forged(EVENT_TYPES.discoveryRequested, { sweepId: 'forged', endpoint: bEndpoint }, 'discover-b'),
    forged(
      EVENT_TYPES.endpointDiscovered,
      { sweepId: 'forged', endpoint: bEndpoint, observedAt: TEST_NOW.toISOString(), resolutionError: null, addresses: [] },
      'analyze-b',
    ),
    forged(EVENT_TYPES.renewalRequested, request, 'gate-b'),
    forged(EVENT_TYPES.renewalApproved, { ...request, decision }, 'rotate-b'),
  ];
  for (const e of events) await runtime.bus.publish(topicOf(e.type as EventType), [e]);
  runtime.pipeline.start();
  await runtime.bus.idle();
});

afterAll(async () => {
  await runtime?.close();
  await fleet?.close();
  rmSync(dir, { recursive: true, force: true });
});

it("When events of tenant alpha name tenant beta's endpoint or certificate, then each is dead-lettered as a tenant scope violation, naming what it named", async () => {
  const dead = await runtime.bus.deadLetters();
  const byId = new Map(dead.map((d) => [(d.body as { id: string }).id, d]));
  for (const id of ['discover-b', 'analyze-b', 'gate-b', 'rotate-b']) {
    expect(byId.get(id)).toMatchObject({ reason: 'TenantScopeError' });
    expect(byId.get(id)!.description).toMatch(/an event of tenant alpha names (endpoint shop\.beta\.test:\d+|certificate shop)/);
  }
  // Only the forged inputs: nothing downstream of them was emitted and then refused.
  expect(dead).toHaveLength(4);
});

it('When a forged event was refused, then nothing was stored, rotated or audited for either tenant', async () => {
  expect(await runtime.deps.store.listObservations('alpha')).toEqual([]);
  expect(await runtime.deps.store.listObservations('beta')).toEqual([]);
  expect(await runtime.deps.store.getManagedState('alpha', 'shop')).toBeNull();
  expect(await runtime.deps.store.getManagedState('beta', 'shop')).toBeNull();
  expect(await runtime.deps.audit.list('alpha')).toEqual([]);
  expect(await runtime.deps.audit.list('beta')).toEqual([]);
});
