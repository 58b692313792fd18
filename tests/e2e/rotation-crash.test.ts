/**
 * Issue 4: a runner killed (SIGKILL) in any rotation state, then restarted, completes or rolls back
 * that rotation, with exactly one new certificate issued and deployed.
 *
 * Each case is a fresh world (temp dir, TLS server, configuration) and two real processes on its
 * files: the first sweeps (the old certificate is due for renewal) and dies at the case's point (right after a state is
 * persisted, or between a side effect and its persistence), leaving its bus lock and rotation
 * lease behind; the second starts on the same files, takes over once they expire, and runs to a
 * terminal state. What the test checks is what a user would see: what the server serves, what the
 * files hold, what was issued, who was told, and what the audit says.
 */
import { publishEvents } from '../../shared/pipeline/embedded-pipeline';
import { onDemandRenewal } from '../../shared/pipeline/on-demand';
import { ROTATION_AUDIT_KIND, type RotationState } from '../../shared/domain/rotation';
import { readSideEffects, type KillPoint, type SideEffect } from '../support/rotation-crash-decorators';
import { aCrashWorld, CERTIFICATE, LOCK_DURATION_MS, TENANT, deployedFiles, type ChildRun, type CrashWorld } from '../support/rotation-crash-world';

jest.setTimeout(60_000);

const COMPLETED: RotationState[] = ['planned', 'issued', 'deployed', 'verified', 'committed'];
const ROLLED_BACK: RotationState[] = ['planned', 'issued', 'deployed', 'rolling-back', 'rolled-back', 'escalated'];

interface CrashCase {
  killAt: KillPoint;
  /** The rotation state the store holds when the process is dead. */
  diesIn: RotationState;
  /** The side effects the killed process had done before it died. */
  deadDid: SideEffect['kind'][];
}

let world: CrashWorld | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
});

/** The child's exit, with its output, for failure messages. */
function describeRun(run: ChildRun): string {
  return `code ${run.code}, signal ${run.signal}\nstdout: ${run.stdout.trim() || '(none)'}\nstderr: ${run.stderr.trim() || '(none)'}`;
}

/**
 * Starts a rotation that dies at `killAt`, checks where it died and which side effects the dead
 * process had done, then resumes it to the end.
 */
async function crashThenResume(w: CrashWorld, c: CrashCase): Promise<void> {
  const start = await w.run('start', c.killAt);
  expect({ signal: start.signal, run: describeRun(start) }).toMatchObject({ signal: 'SIGKILL' });
  const atDeath = await w.persisted();
  expect(atDeath.state?.rotation?.state).toBe(c.diesIn);

  const resume = await w.run('resume');
  expect({ code: resume.code, outcome: resume.summary?.outcome, run: describeRun(resume) }).toMatchObject({ code: 0, outcome: 'terminal' });
  const byDeadProcess = readSideEffects(w.sideEffectLog).filter((e) => e.pid !== resume.summary!.pid);
  expect(byDeadProcess.map((e) => e.kind)).toEqual(c.deadDid);
}

/** One issuance, however many times the issuer was asked: returns the one new fingerprint. */
async function expectOneNewCertificate(w: CrashWorld): Promise<string> {
  const effects = readSideEffects(w.sideEffectLog);
  const issued = new Set(effects.flatMap((e) => (e.kind === 'issue' ? [e.fingerprint] : [])));
  const deployed = new Set(effects.flatMap((e) => (e.kind === 'deploy' ? [e.fingerprint] : [])));
  expect({ issued: [...issued], deployed: [...deployed] }).toEqual({ issued: [expect.any(String)], deployed: [...issued] });
  const [fingerprint] = issued;
  expect(fingerprint).not.toBe(w.old.fingerprint);
  // Asked again after a crash, the issuer is asked under the rotation's idempotency key.
  const rotationId = (await w.persisted()).state?.rotation?.rotationId;
  expect(new Set(effects.flatMap((e) => (e.kind === 'issue' ? [e.idempotencyKey] : [])))).toEqual(new Set([rotationId]));
  return fingerprint;
}

/** The audit chain verifies and holds one record per transition of the rotation, in order. */
async function expectAuditedOncePerTransition(w: CrashWorld, history: RotationState[]): Promise<void> {
  const { state, audit, verdict, deadLetters } = await w.persisted();
  expect(verdict).toMatchObject({ ok: true });
  expect(deadLetters).toEqual([]);
  const rotation = state!.rotation!;
  expect(rotation.history.map((h) => h.state)).toEqual(history);
  const transitions = new Set(Object.values(ROTATION_AUDIT_KIND));
  const kinds = audit.filter((r) => r.data.certificateId === CERTIFICATE && transitions.has(r.kind)).map((r) => r.kind);
  expect(kinds).toEqual(history.map((s) => ROTATION_AUDIT_KIND[s]));
  const forOtherRotations = audit.filter((r) => transitions.has(r.kind) && r.data.rotationId !== undefined && r.data.rotationId !== rotation.rotationId);
  expect(forOtherRotations).toEqual([]);
}

function notificationKinds(w: CrashWorld): string[] {
  return w
    .outbox()
    .filter((n) => n.subject.certificateId === CERTIFICATE && (n.kind === 'rotation-completed' || n.kind === 'rotation-failed'))
    .map((n) => n.kind);
}

describe('When the runner is killed mid-rotation and restarted, then the rotation completes with one new certificate', () => {
  it.each<CrashCase>([
    { killAt: 'planned', diesIn: 'planned', deadDid: [] },
    { killAt: 'after-issue', diesIn: 'planned', deadDid: ['issue'] },
    { killAt: 'issued', diesIn: 'issued', deadDid: ['issue'] },
    { killAt: 'after-deploy', diesIn: 'issued', deadDid: ['issue', 'deploy'] },
    { killAt: 'deployed', diesIn: 'deployed', deadDid: ['issue', 'deploy'] },
    { killAt: 'verified', diesIn: 'verified', deadDid: ['issue', 'deploy'] },
    { killAt: 'committed', diesIn: 'committed', deadDid: ['issue', 'deploy'] },
  ])('killed at $killAt (persisted: $diesIn)', async (c) => {
    world = await aCrashWorld({ reloadTo: 'web' });
    await crashThenResume(world, c);

    const fingerprint = await expectOneNewCertificate(world);
    const { state } = await world.persisted();
    expect(state?.rotation).toMatchObject({ state: 'committed', issued: { fingerprint } });
    expect(state?.lastRotation).toMatchObject({ outcome: 'committed', fromFingerprint: world.old.fingerprint, toFingerprint: fingerprint });
    expect(state?.deployedFingerprint).toBe(fingerprint);
    expect(await world.served()).toBe(fingerprint);
    expect(deployedFiles(world.files)).toMatchObject({ fingerprint, keyMatches: true });
    expect(notificationKinds(world)).toEqual(['rotation-completed']);
    await expectAuditedOncePerTransition(world, COMPLETED);
  });
});

describe('When the new certificate is never served and the runner is killed during the rollback, then the restart finishes the rollback', () => {
  it.each<CrashCase>([
    { killAt: 'deployed', diesIn: 'deployed', deadDid: ['issue', 'deploy'] },
    { killAt: 'rolling-back', diesIn: 'rolling-back', deadDid: ['issue', 'deploy'] },
    { killAt: 'rolled-back', diesIn: 'rolled-back', deadDid: ['issue', 'deploy', 'restore'] },
    { killAt: 'escalated', diesIn: 'escalated', deadDid: ['issue', 'deploy', 'restore'] },
  ])('killed at $killAt (persisted: $diesIn)', async (c) => {
    // The reload reaches the decoy: web's files change, what web serves does not.
    world = await aCrashWorld({ reloadTo: 'decoy' });
    await crashThenResume(world, c);

    const fingerprint = await expectOneNewCertificate(world);
    const { state } = await world.persisted();
    expect(state?.rotation).toMatchObject({ state: 'escalated', issued: { fingerprint }, failure: { step: 'verify' } });
    expect(state?.lastRotation).toMatchObject({ outcome: 'rolled-back', fromFingerprint: world.old.fingerprint, toFingerprint: fingerprint });
    expect(await world.served()).toBe(world.old.fingerprint);
    expect(deployedFiles(world.files)).toMatchObject({ certPem: world.old.certPem, keyPem: world.old.keyPem });
    expect(readSideEffects(world.sideEffectLog).filter((e) => e.kind === 'restore').length).toBeGreaterThanOrEqual(1);
    expect(notificationKinds(world)).toEqual(['rotation-failed']);
    await expectAuditedOncePerTransition(world, ROLLED_BACK);
  });
});

describe('When the dead runner\'s rotation lease outlives its message lock', () => {
  it('then the redelivered message waits for the lease instead of dead-lettering, and the rotation completes', async () => {
    world = await aCrashWorld({ reloadTo: 'web', leaseMs: 3 * LOCK_DURATION_MS });
    await crashThenResume(world, { killAt: 'deployed', diesIn: 'deployed', deadDid: ['issue', 'deploy'] });

    const fingerprint = await expectOneNewCertificate(world);
    expect(await world.served()).toBe(fingerprint);
    await expectAuditedOncePerTransition(world, COMPLETED);
  });
});

describe('When the same renewal request is delivered twice, then the certificate is rotated once', () => {
  it.each<{ name: string; deliver: (publish: () => Promise<void>, idle: () => Promise<void>) => Promise<void> }>([
    {
      name: 'both copies at once',
      deliver: async (publish, idle) => {
        await Promise.all([publish(), publish()]);
        await idle();
      },
    },
    {
      name: 'the second copy after the rotation finished',
      deliver: async (publish, idle) => {
        await publish();
        await idle();
        await publish();
        await idle();
      },
    },
  ])('$name', async ({ deliver }) => {
    world = await aCrashWorld({ reloadTo: 'web' });
    const runtime = world.inProcess();
    try {
      runtime.pipeline.start();
      const request = await onDemandRenewal(runtime.deps, { tenantId: TENANT, certificateId: CERTIFICATE, reason: 'duplicate test' });
      await deliver(() => publishEvents(runtime.bus, [request]), () => runtime.bus.idle());
    } finally {
      await runtime.close();
    }

    const effects = readSideEffects(world.sideEffectLog);
    expect(effects.filter((e) => e.kind === 'issue')).toHaveLength(1);
    expect(effects.filter((e) => e.kind === 'deploy')).toHaveLength(1);
    const fingerprint = await expectOneNewCertificate(world);
    expect(await world.served()).toBe(fingerprint);
    expect(notificationKinds(world)).toEqual(['rotation-completed']);
    await expectAuditedOncePerTransition(world, COMPLETED);
  });
});
