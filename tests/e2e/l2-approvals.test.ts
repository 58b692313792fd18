/**
 * Issue 11, defects 3 and 5: L2 approvals on the real embedded runtime (a TLS server serving a due
 * certificate, certops' own CA, the files deployer, the HTTP API in-process).
 * - Defect 3, "a denied approval can still rotate": the decision is recorded first
 *   (compare-and-set on the approval's version) and the rotate stage re-reads the approval and
 *   refuses a held request whose approval is not approved.
 * - Defect 5, "L2 approvals pile up": one approval per certificate and action; later sweeps refer
 *   to it; expiry is a scheduled job that marks, audits and tells.
 */
import { createApi, type ApiResponse } from '../../shared/api/router';
import type { Principal } from '../../shared/api/auth';
import type { EmbeddedRuntime } from '../../shared/composition-root';
import { expireApprovals } from '../../shared/pipeline/approval-expiry-job';
import { publishEvents } from '../../shared/pipeline/embedded-pipeline';
import { approvalRefusal, approvedRequest, approvedRotationId, holdForApproval } from '../../shared/pipeline/governance';
import type { GatedRenewal } from '../../shared/pipeline/event-data';
import { cloudEvent, type CloudEvent } from '../../shared/domain/events';
import { EVENT_TYPES } from '../../shared/pipeline/topology';
import { aCrashWorld, CERTIFICATE, TENANT, type CrashWorld } from '../support/rotation-crash-world';
import { readSideEffects } from '../support/rotation-crash-decorators';

jest.setTimeout(60_000);

const dana: Principal = { subject: 'oid-dana', name: 'dana@msp.example', mspAdmin: false, tenants: new Set([TENANT]) };
let world: CrashWorld;
let runtime: EmbeddedRuntime;

/** The crash world's due certificate, its renewals gated at L2 (approvals open for `ttlHours`). */
async function anL2World(ttlHours = 72): Promise<void> {
  world = await aCrashWorld({ reloadTo: 'web' });
  world.config.tenants[0].policy = { gate: { renew: 'L2', rotate: 'L2' }, approvalTtlHours: ttlHours };
  runtime = world.inProcess();
  runtime.pipeline.start();
}

afterEach(async () => {
  await runtime?.close();
  await world?.close();
});

function answer(decision: 'approve' | 'deny', approvalId: string): Promise<ApiResponse> {
  const api = createApi({ deps: runtime.deps, verifier: { verify: async () => dana }, publish: (events) => publishEvents(runtime.bus, events) });
  return api({ method: 'POST', path: `/api/tenants/${TENANT}/approvals/${encodeURIComponent(approvalId)}/${decision}`, headers: {}, body: decision === 'deny' ? { reason: 'change freeze' } : {} });
}

const sweep = () => runtime.pipeline.sweep({ reason: 'test' });
const asked = () => world.outbox().filter((n) => n.kind === 'approval-requested');
const rotated = () => readSideEffects(world.sideEffectLog).filter((e) => e.kind === 'issue' || e.kind === 'deploy');
const auditKinds = async () => (await runtime.deps.audit.list(TENANT)).map((r) => r.kind);

describe('Defect 5: L2 approvals pile up', () => {
  it('When three sweeps find the same certificate due under an L2 gate, then one approval is pending and the human is asked once', async () => {
    await anL2World();
    for (let i = 0; i < 3; i++) await sweep();
    const approvals = await runtime.deps.governance.listApprovals(TENANT);
    expect(approvals.map((a) => [a.certificateId, a.status])).toEqual([[CERTIFICATE, 'pending']]);
    expect(asked()).toHaveLength(1);
    expect(rotated()).toEqual([]);
    // The later sweeps' gate decisions refer to the one approval.
    const decided = (await runtime.deps.audit.list(TENANT)).filter((r) => r.kind === 'gate.decided');
    expect(decided.map((r) => (r.data.approval as { id: string; standing: string }).standing)).toEqual(['asked', 'waiting', 'waiting']);
    expect(new Set(decided.map((r) => (r.data.approval as { id: string }).id))).toEqual(new Set([approvals[0].approvalId]));
  });

  it('When an approval passes its expiry unanswered, then the expiry job marks it expired once, audits it and tells the assignee, and the next sweep asks again', async () => {
    await anL2World(0.0003); // about a second
    await sweep();
    const [approval] = await runtime.deps.governance.listApprovals(TENANT, 'pending');
    expect(await expireApprovals(runtime.deps)).toEqual([]); // not yet
    await new Promise((resolve) => setTimeout(resolve, Date.parse(approval.expiresAt) - Date.now() + 50));

    expect(await expireApprovals(runtime.deps)).toEqual([{ tenantId: TENANT, approvalId: approval.approvalId }]);
    expect(await expireApprovals(runtime.deps)).toEqual([]); // marked once
    expect((await runtime.deps.governance.getApproval(TENANT, approval.approvalId))?.status).toBe('expired');
    expect((await auditKinds()).filter((k) => k === 'approval.expired')).toHaveLength(1);
    expect(world.outbox().filter((n) => n.kind === 'approval-expired').map((n) => n.to.name)).toEqual(['Dana']);
    // A click after the expiry is refused, and changes nothing.
    expect((await answer('approve', approval.approvalId)).status).toBe(409);
    expect(rotated()).toEqual([]);

    await sweep();
    expect((await runtime.deps.governance.getApproval(TENANT, approval.approvalId))?.status).toBe('pending');
    expect(asked()).toHaveLength(2);
  });

  it('When a human denies, then later sweeps within the approval window do not ask again', async () => {
    await anL2World();
    await sweep();
    const [approval] = await runtime.deps.governance.listApprovals(TENANT, 'pending');
    expect((await answer('deny', approval.approvalId)).status).toBe(200);
    await sweep();
    await sweep();
    expect((await runtime.deps.governance.getApproval(TENANT, approval.approvalId))?.status).toBe('denied');
    expect(asked()).toHaveLength(1);
    expect(rotated()).toEqual([]);
  });
});

describe('Defect 3: a denied approval can still rotate', () => {
  it('When the held request reaches the rotate stage after a human denied it, then rotate refuses it and nothing is issued or deployed', async () => {
    await anL2World();
    await sweep();
    const [approval] = await runtime.deps.governance.listApprovals(TENANT, 'pending');
    expect((await answer('deny', approval.approvalId)).status).toBe(200);
    // What the old order did: the held request was published before the decision was recorded.
    await publishEvents(runtime.bus, [approvedRequest({ ...approval, decidedBy: 'human:dana@msp.example', decidedAt: new Date().toISOString() })]);
    await runtime.bus.idle();
    expect(rotated()).toEqual([]);
    expect(await world.served()).toBe(world.old.fingerprint);
    const refused = (await runtime.deps.audit.list(TENANT)).filter((r) => r.kind === 'rotation.refused');
    expect(refused.map((r) => r.data.reason)).toEqual([expect.stringContaining('is denied (by human:dana@msp.example)')]);
  });

  it('When one human approves while another denies at the same moment, then exactly one decision is recorded and the certificate rotates only if it was the approval', async () => {
    await anL2World();
    await sweep();
    const [approval] = await runtime.deps.governance.listApprovals(TENANT, 'pending');
    const [approve, deny] = await Promise.all([answer('approve', approval.approvalId), answer('deny', approval.approvalId)]);
    await runtime.bus.idle();
    expect([approve.status, deny.status].sort()).toEqual([200, 409]);
    const stored = await runtime.deps.governance.getApproval(TENANT, approval.approvalId);
    const issued = readSideEffects(world.sideEffectLog).filter((e) => e.kind === 'issue');
    expect({ status: stored?.status, issued: issued.length }).toEqual(approve.status === 200 ? { status: 'approved', issued: 1 } : { status: 'denied', issued: 0 });
  });

  it('When a human approves, then the certificate rotates once, and approving again is refused', async () => {
    await anL2World();
    await sweep();
    const [approval] = await runtime.deps.governance.listApprovals(TENANT, 'pending');
    expect((await answer('approve', approval.approvalId)).status).toBe(200);
    await runtime.bus.idle();
    expect(readSideEffects(world.sideEffectLog).filter((e) => e.kind === 'issue')).toHaveLength(1);
    expect(await world.served()).toBe((await runtime.deps.store.getManagedState(TENANT, CERTIFICATE))?.deployedFingerprint);
    expect((await answer('approve', approval.approvalId)).status).toBe(409);
  });
});

describe('An approved rotation still running when the next sweep comes (review of defects 3 and 5)', () => {
  it('When the gate meets the approval while its rotation is open, then nobody is asked again, and the redelivered request of that rotation is not refused', async () => {
    await anL2World();
    await sweep();
    const [pending] = await runtime.deps.governance.listApprovals(TENANT, 'pending');
    const approved = await runtime.deps.governance.putApproval({ ...pending, status: 'approved', decidedBy: 'human:dana@msp.example', decidedAt: new Date().toISOString(), version: pending.version + 1 }, pending.version);
    const held = (approved.request as CloudEvent<GatedRenewal>).data;
    // The approved rotation has started and not finished (its process died at 'issued', say).
    const doc = await runtime.deps.store.getManagedState(TENANT, CERTIFICATE);
    await runtime.deps.store.putManagedState(
      {
        ...(doc ?? { tenantId: TENANT, certificateId: CERTIFICATE, deployedFingerprint: null, notAfter: null, lastRotation: null, version: 0 }),
        rotation: { rotationId: approvedRotationId(approved), state: 'issued', reason: held.reason, observedAt: held.observedAt, decision: held.decision, fromFingerprint: held.currentFingerprint, fromNotAfter: held.notAfter, replaces: null, issued: null, deployments: [], verified: [], failure: null, restored: null, restoredVerified: null, history: [], lease: null },
        version: (doc?.version ?? 0) + 1,
      },
      doc?.version ?? 0,
    );
    const ctx = { deps: runtime.deps, tenant: runtime.deps.tenants.get(TENANT)!, audit: async () => undefined, log: runtime.deps.logger };
    const standing = await holdForApproval(ctx, held, approved.request as CloudEvent<GatedRenewal>);
    expect(standing.kind).toBe('approved');
    // Even if the approval changed since (a human denied after it started), the started rotation resumes.
    await runtime.deps.governance.putApproval({ ...approved, status: 'denied', version: approved.version + 1 }, approved.version);
    expect(await approvalRefusal(runtime.deps, TENANT, held)).toBeNull();
    // A request that has not started is still refused.
    expect(await approvalRefusal(runtime.deps, TENANT, { ...held, sweepId: 'another-sweep' })).toMatch(/is denied/);
    expect(asked()).toHaveLength(1);
  });

  it('When a stale request reaches the gate after the certificate was replaced, then no approval is asked for it', async () => {
    await anL2World();
    await sweep();
    const [pending] = await runtime.deps.governance.listApprovals(TENANT, 'pending');
    const request = (pending.request as CloudEvent<GatedRenewal>).data;
    expect((await answer('approve', pending.approvalId)).status).toBe(200);
    await runtime.bus.idle();
    expect((await runtime.deps.store.getManagedState(TENANT, CERTIFICATE))?.rotation?.state).toBe('committed');
    // The same observation's renewal request from another, overlapping sweep arrives now.
    const { decision: _decision, ...renewal } = request;
    await publishEvents(runtime.bus, [cloudEvent({ id: 'late:renew', type: EVENT_TYPES.renewalRequested, source: '/test', time: new Date(), tenantId: TENANT, correlationId: 'late', subject: CERTIFICATE, data: { ...renewal, sweepId: 'late' } })]);
    await runtime.bus.idle();
    expect(asked()).toHaveLength(1);
    expect(await runtime.bus.deadLetters()).toEqual([]);
    expect((await runtime.deps.governance.listApprovals(TENANT, 'pending'))).toEqual([]);
  });
});
