/**
 * Edge cases of the L1 loop a review found, on the real embedded runtime: an approval whose release
 * fails is recorded approved all the same (and approving again releases it), a human's lowering of a gate starts the override
 * window afresh, an escalation never lowers a level raised higher, and a malformed path answers 400.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createApi } from '../../shared/api/router';
import type { Principal } from '../../shared/api/auth';
import { createEmbeddedRuntime, type EmbeddedRuntime } from '../../shared/composition-root';
import { createLogger } from '../../shared/observability/logger';
import { escalateGate, lowerGate, recordOutcome } from '../../shared/pipeline/governance';
import type { CloudEvent } from '../../shared/domain/events';
import type { DeliveryContext } from '../../shared/pipeline/delivery';
import { aTestConfig } from '../support/config-builders';

let dir: string;
let runtime: EmbeddedRuntime;
const dana: Principal = { subject: 'oid-dana', name: 'dana@msp.example', mspAdmin: false, tenants: new Set(['acme']) };

beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'certops-l1-fixes-'));
  runtime = createEmbeddedRuntime(
    aTestConfig(dir, {
      tenants: [
        {
          id: 'acme',
          assignee: { name: 'Dana' },
          escalation: { name: 'On-call' },
          policy: { learning: { raiseTo: 'L3' } },
          endpoints: [{ host: 'www.acme.test', port: 443, managed: 'web' }],
          managedCertificates: [{ id: 'web', dnsNames: ['www.acme.test'], issuer: 'local-ca', target: { type: 'files', certFile: path.join(dir, 'c.pem'), keyFile: path.join(dir, 'k.pem') } }],
        },
      ],
    }),
    { logger: createLogger({ level: 'silent' }), consoleStream: null },
  );
});
afterEach(async () => {
  await runtime.close();
  rmSync(dir, { recursive: true, force: true });
});

const ctx = (): DeliveryContext => ({ deps: runtime.deps, tenant: runtime.deps.tenants.get('acme')!, audit: async () => undefined, log: runtime.deps.logger });

it('When releasing an approved request fails, then the approval is recorded approved first, the API says the renewal was not queued, and approving again releases it', async () => {
  const request = { id: 'held-1', type: 'certops.renewal.approved.v1', data: { sweepId: 's1', certificateId: 'web', decision: { rationale: 'L2: …', level: 'L2' } } } as unknown as CloudEvent;
  const now = new Date();
  await runtime.deps.governance.putApproval(
    { tenantId: 'acme', approvalId: 's1:web', certificateId: 'web', action: 'renew', requestedAt: now.toISOString(), expiresAt: new Date(now.getTime() + 3_600_000).toISOString(), status: 'pending', request, decidedBy: null, decidedAt: null, reason: null, version: 1 },
    0,
  );
  const published: CloudEvent[] = [];
  let fail = true;
  const api = createApi({
    deps: runtime.deps,
    verifier: { verify: async () => dana },
    publish: async (events) => {
      if (fail) {
        fail = false;
        throw Object.assign(new Error('Service Bus unavailable'), { name: 'RetryableError' });
      }
      published.push(...events);
    },
  });
  const approve = () => api({ method: 'POST', path: '/api/tenants/acme/approvals/s1%3Aweb/approve', headers: {}, body: {} });
  const first = await approve();
  expect(first.status).toBe(503);
  expect(JSON.stringify(first.body)).toContain('recorded as approved');
  expect((await runtime.deps.governance.getApproval('acme', 's1:web'))?.status).toBe('approved');
  expect((await approve()).status).toBe(200);
  expect(published.map((e) => e.id)).toEqual(['held-1']);
  expect((published[0].data as { decision: { rationale: string } }).decision.rationale).toMatch(/^Approved by human:dana@msp\.example at /);
});

it('When an MSP admin lowers a learned gate, then the next accepted action does not raise it again', async () => {
  for (let i = 0; i < 10; i++) await recordOutcome(ctx(), `r${i}`, 'overridden', 'human:dana');
  expect((await runtime.deps.governance.getGateState('acme', 'rotate'))?.raisedTo).toBe('L3');
  await lowerGate(ctx(), 'rotate', 'human:ada', 'the appliance was replaced');
  await recordOutcome(ctx(), 'r10', 'accepted', 'stage:rotate');
  expect((await runtime.deps.governance.getGateState('acme', 'rotate'))?.raisedTo).toBeNull();
});

it('When a technician escalates a pair already raised higher, then the level is not lowered', async () => {
  for (let i = 0; i < 10; i++) await recordOutcome(ctx(), `r${i}`, 'overridden', 'human:dana');
  await escalateGate(ctx(), 'rotate', 'L2', 'human:dana', 'freeze');
  expect((await runtime.deps.governance.getGateState('acme', 'rotate'))?.raisedTo).toBe('L3');
});

it('When a path holds malformed percent-encoding, then the API answers 400, not 500', async () => {
  const api = createApi({ deps: runtime.deps, verifier: { verify: async () => dana }, publish: async () => undefined });
  expect((await api({ method: 'GET', path: '/api/tenants/%E0%A4%A/certificates', headers: {}, body: undefined })).status).toBe(400);
});
