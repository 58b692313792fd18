/**
 * The rotation engine: drives one managed certificate through the state machine of
 * domain/rotation.ts (planned → issued → deployed → verified → committed, or → rolling-back →
 * rolled-back → escalated). Every transition is written to the store (optimistically, on the
 * certificate's one document) and audited BEFORE the next side effect starts, so a process killed
 * anywhere is resumed from the recorded state by the redelivered message, never from memory:
 * - planned: the issuer is asked again with the rotation's idempotency key and hands back the same
 *   certificate (the local CA keeps it, ACME continues the journaled order);
 * - issued: the new key waits encrypted in the KeyStore; targets already deployed are skipped, and
 *   a target deployed but not yet recorded is deployed again (the deployer keeps the first backup);
 * - deployed / verified: verification and commit are repeated (both idempotent);
 * - rolling-back: every recorded target is restored again (restores are idempotent).
 *
 * Exclusion: the rotation's lease (owner, wall-clock expiry) is taken with the same optimistic
 * write and renewed by a heartbeat, so two deliveries of one request (or two requests for one
 * certificate) never drive it at once; a dead owner's lease runs out (keep it no longer than the
 * bus lock, so a redelivery after a crash finds it expired).
 *
 * Idempotency key: the rotation id `<sweepId>:<certificateId>`. A request whose rotation is
 * finished emits its outcome again (same event id: the bus drops the duplicate); a request that
 * finds another rotation of the certificate still open drives that one to its end instead of
 * starting a second; a request resting on an observation made before certops deployed the
 * current certificate is stale and skipped (staleRequest).
 */
import { randomUUID } from 'node:crypto';
import type { ManagedCertificateConfig, TenantConfig, DeploymentTarget } from '../config/model';
import { deploymentTargets, SELF_VERIFYING_TARGET_TYPES } from '../config/model';
import type { CloudEvent } from '../domain/events';
import { errorMessage, PermanentError, RetryableError } from '../domain/errors';
import { assertTransition, DEFAULT_ROLLBACK_WINDOW_DAYS, deploymentPlan, isKeyCompromise, isTerminal, ROTATION_AUDIT_KIND, type RotationState } from '../domain/rotation';
import { ConcurrencyError, type ManagedCertificateState, type RotationRecord } from '../ports/certificate-store';
import { DeploymentError, type DeploymentReceipt } from '../ports/deployer';
import { endpointRef } from './endpoints';
import type { EndpointRef, RotationCompleted, RotationFailed } from './event-data';
import { waitUntilServed, type ServedCheck } from './served-verification';
import { retireDeployments, revokeReplaced } from './key-retirement';
import type { StageContext } from './stage';
import { EVENT_TYPES } from './topology';

const DEFAULT_VALIDITY_DAYS = 90;
/** Finished rotation ids remembered per certificate, for late duplicates of their requests. */
const RECENT_ROTATIONS = 20;
/** How often a request waiting for another worker's lease looks again. */
const LEASE_POLL_MS = 1_000;

/** What a request fixes about its rotation (the rest of the record is the rotation's progress). */
export type RotationRequest = Pick<RotationRecord, 'rotationId' | 'reason' | 'observedAt' | 'decision' | 'fromFingerprint' | 'fromNotAfter' | 'replaces'>;

/** KeyStore name of a certificate's new key while its rotation is open. */
export function stagedKeyName(certificateId: string): string {
  return `rotation/${certificateId}/key`;
}

/** Runs (or resumes, or re-reports) the rotation a request asks for; returns the events to emit. */
export async function rotateCertificate(ctx: StageContext, tenant: TenantConfig, managed: ManagedCertificateConfig, request: RotationRequest): Promise<CloudEvent[]> {
  const driver = new RotationDriver(ctx, tenant, managed);
  const record = await driver.acquire(request);
  if (!record) return [];
  if (!isTerminal(record.state)) await driver.drive();
  return driver.outcomeEvents();
}

export interface RotationOverride {
  /** Who decided (`human:<email>`, `cli:<user>`), recorded as the audit actor's words. */
  actor: string;
  reason: string;
}

/**
 * A human's override of the certificate's last committed rotation (the L1 loop: act, then let the
 * human undo): restore what every target served before, verify the old certificate is served
 * again, and tell the escalation contact. Throws PermanentError when there is no committed
 * rotation to undo, RetryableError while one is still running.
 */
export async function overrideRotation(ctx: StageContext, tenant: TenantConfig, managed: ManagedCertificateConfig, override: RotationOverride): Promise<CloudEvent[]> {
  const driver = new RotationDriver(ctx, tenant, managed);
  await driver.reopen(override);
  await driver.drive();
  return driver.outcomeEvents();
}

class RotationDriver {
  private readonly owner = randomUUID();
  private readonly targets: DeploymentTarget[];
  private readonly endpoints: EndpointRef[];
  private doc!: ManagedCertificateState;
  /** Writes are serialized: the heartbeat and the transitions share one document version. */
  private writes: Promise<unknown> = Promise.resolve();
  private heartbeat: NodeJS.Timeout | undefined;

  constructor(
    private readonly ctx: StageContext,
    private readonly tenant: TenantConfig,
    private readonly managed: ManagedCertificateConfig,
  ) {
    this.targets = deploymentTargets(managed);
    this.endpoints = tenant.endpoints.filter((e) => e.managed === managed.id).map(endpointRef);
  }

  private get rec(): RotationRecord {
    return this.doc.rotation!;
  }

  private get deps() {
    return this.ctx.deps;
  }

  /**
   * The rotation this request is about, leased to this driver when work remains; null when there
   * is nothing to do (a late duplicate, or a certificate replaced since the request was made).
   * When another worker holds the lease, waits (the bus keeps renewing this message's lock) until
   * that worker finishes or its lease runs out, up to `maxLeaseWaitMs`: a duplicate delivered
   * while the rotation runs then reports the same outcome, and the redelivery after a crash takes
   * over as soon as the dead owner's lease expires, without spending its delivery count.
   */
  async acquire(request: RotationRequest): Promise<RotationRecord | null> {
    const waitUntil = Date.now() + this.deps.rotation.maxLeaseWaitMs;
    for (;;) {
      const outcome = await this.tryAcquire(request);
      if (outcome.kind === 'acquired') return outcome.record;
      if (outcome.kind === 'nothing') return null;
      // Held by another worker, or a concurrent write won: look again shortly.
      const now = Date.now();
      if (now >= waitUntil) {
        throw new RetryableError(`rotation of ${this.managed.id} is being driven by another worker (${outcome.why}); retry later`);
      }
      const pause = outcome.heldUntil ? Math.min(Math.max(outcome.heldUntil - now + 10, 10), LEASE_POLL_MS) : 10 + Math.floor(Math.random() * 40);
      await new Promise((resolve) => setTimeout(resolve, Math.min(pause, waitUntil - now)));
    }
  }

  private async tryAcquire(
    request: RotationRequest,
  ): Promise<{ kind: 'acquired'; record: RotationRecord } | { kind: 'nothing' } | { kind: 'busy'; why: string; heldUntil?: number }> {
    const { store, clock } = this.deps;
    const doc = await store.getManagedState(this.ctx.tenantId, this.managed.id);
    const open = doc?.rotation ?? null;
    if (doc && open && (open.rotationId === request.rotationId || !isTerminal(open.state))) {
      const held = open.lease;
      if (!isTerminal(open.state) && held && held.owner !== this.owner && held.until > Date.now()) {
        return { kind: 'busy', why: `${open.rotationId} is ${open.state}`, heldUntil: held.until };
      }
      this.doc = doc;
      if (isTerminal(open.state)) {
        // Finished: its outcome is emitted again. A process that died right after saving the last
        // transition never audited it: repair that first.
        await this.auditMissedTransitions();
        return { kind: 'acquired', record: open };
      }
      if (open.rotationId !== request.rotationId) {
        this.ctx.log.info({ certificateId: this.managed.id, open: open.rotationId, request: request.rotationId }, 'another rotation of this certificate is open; finishing it instead of starting a second');
      }
      if (!(await this.writeOrLose({ ...open, lease: this.lease() }))) return { kind: 'busy', why: 'a concurrent write' };
      await this.auditMissedTransitions();
      return { kind: 'acquired', record: this.rec };
    }
    if (doc?.recentRotationIds?.includes(request.rotationId)) {
      this.ctx.log.info({ certificateId: this.managed.id, rotationId: request.rotationId }, 'rotation already finished; a late duplicate of its request is ignored');
      return { kind: 'nothing' };
    }
    const stale = doc ? staleRequest(doc, request) : null;
    if (stale) {
      this.ctx.log.info({ certificateId: this.managed.id, from: request.fromFingerprint, deployed: doc!.deployedFingerprint, why: stale }, 'the certificate this request would replace is no longer deployed; nothing to do');
      await this.ctx.audit('rotation.skipped', { certificateId: this.managed.id, rotationId: request.rotationId, reason: 'AlreadyReplaced', detail: stale, fromFingerprint: request.fromFingerprint, observedAt: request.observedAt, deployedFingerprint: doc!.deployedFingerprint });
      return { kind: 'nothing' };
    }
    // The rotation this one replaces can no longer be undone once this one starts (an override
    // reopens only the last rotation): what its deployers kept for rollback is deleted first.
    this.doc = doc ?? { tenantId: this.ctx.tenantId, certificateId: this.managed.id, deployedFingerprint: null, notAfter: null, lastRotation: null, version: 0 };
    const previous = doc?.rotation ?? null;
    if (previous && isTerminal(previous.state) && !previous.retired && previous.deployments.length > 0) await this.retireSuperseded(previous);
    const at = clock.now().toISOString();
    const record: RotationRecord = {
      ...request,
      // What a key compromise revokes: the certificate being replaced, when certops issued it.
      replacing:
        previous?.state === 'committed' && previous.issued && previous.issued.fingerprint === request.fromFingerprint
          ? { certificatePem: previous.issued.certificatePem, issuer: previous.issued.issuer }
          : null,
      state: 'planned',
      issued: null,
      deployments: [],
      verified: [],
      failure: null,
      restored: null,
      restoredVerified: null,
      history: [{ state: 'planned', at, auditFrom: (await this.deps.audit.tip(this.ctx.tenantId))?.seq ?? 0 }],
      lease: this.lease(),
    };
    if (!(await this.writeOrLose(record))) return { kind: 'busy', why: 'another worker started a rotation of this certificate at the same moment' };
    await this.auditTransition('planned', { reason: request.reason, from: request.fromFingerprint, level: request.decision.level });
    return { kind: 'acquired', record };
  }

  /** One optimistic write of the rotation; false when another worker wrote first. */
  private async writeOrLose(rotation: RotationRecord): Promise<boolean> {
    const expected = this.doc.version;
    try {
      this.doc = await this.deps.store.putManagedState({ ...this.doc, rotation, version: expected + 1 }, expected);
      return true;
    } catch (err) {
      if (err instanceof ConcurrencyError) return false;
      throw err;
    }
  }

  /** Reopens the last committed rotation for a human override (committed → rolling-back). */
  async reopen(override: RotationOverride): Promise<void> {
    const doc = await this.deps.store.getManagedState(this.ctx.tenantId, this.managed.id);
    const last = doc?.rotation;
    if (!doc || !last) throw new PermanentError(`certificate ${this.managed.id} of tenant ${this.ctx.tenantId} has no rotation to override`);
    if (!isTerminal(last.state)) throw new RetryableError(`rotation ${last.rotationId} of ${this.managed.id} is still ${last.state}; override it once it has finished`);
    if (last.state !== 'committed') throw new PermanentError(`the last rotation of ${this.managed.id} (${last.rotationId}) ended ${last.state}; there is nothing committed to roll back`);
    if (last.deployments.length === 0) throw new PermanentError(`rotation ${last.rotationId} of ${this.managed.id} recorded no deployment to restore`);
    if (last.retired) {
      const why = last.retired.why === 'key-compromise' ? 'the key it replaced was compromised' : last.retired.why === 'superseded' ? 'a later rotation replaced it' : `its rollback window ended (${this.tenant.policy?.rollbackWindowDays ?? DEFAULT_ROLLBACK_WINDOW_DAYS} days)`;
      throw new PermanentError(`rotation ${last.rotationId} of ${this.managed.id} can no longer be undone: the previous key was deleted at ${last.retired.at} because ${why}; renew instead`);
    }
    this.doc = doc;
    await this.takeLease();
    const reason = `override by ${override.actor}: ${override.reason}`;
    await this.transition('rolling-back', { failure: { step: 'override', reason } }, {}, { step: 'override', reason, actor: override.actor });
  }

  /** Steps until the rotation is committed or escalated, renewing the lease meanwhile. */
  async drive(): Promise<void> {
    const period = Math.max(50, Math.floor(this.deps.rotation.leaseMs / 3));
    this.heartbeat = setInterval(() => void this.renewLease().catch(() => undefined), period);
    this.heartbeat.unref();
    try {
      while (!isTerminal(this.rec.state)) await this.step();
    } catch (err) {
      // A transient failure (the CA throttling, a store hiccup): give the lease back so that the
      // redelivery resumes at once from the recorded state, then let the bus retry.
      if (err instanceof RetryableError) await this.releaseLease();
      throw err;
    } finally {
      clearInterval(this.heartbeat);
    }
  }

  outcomeEvents(): CloudEvent[] {
    const r = this.rec;
    if (r.state === 'committed') {
      const data: RotationCompleted = {
        certificateId: this.managed.id,
        decision: r.decision,
        fromFingerprint: r.fromFingerprint,
        toFingerprint: r.issued!.fingerprint,
        notAfter: r.issued!.notAfter,
        verified: r.verified,
        reason: r.reason,
      };
      return [this.ctx.emit(EVENT_TYPES.rotationCompleted, data, { id: `${r.rotationId}:committed`, subject: this.managed.id })];
    }
    const data: RotationFailed = {
      certificateId: this.managed.id,
      decision: r.decision,
      fromFingerprint: r.fromFingerprint,
      attemptedFingerprint: r.issued?.fingerprint ?? null,
      reason: r.failure?.reason ?? 'rotation failed',
      rolledBack: r.history.some((h) => h.state === 'rolled-back'),
      restoredVerified: r.restoredVerified === true,
    };
    return [this.ctx.emit(EVENT_TYPES.rotationFailed, data, { id: `${r.rotationId}:failed`, subject: this.managed.id })];
  }

  private async step(): Promise<void> {
    switch (this.rec.state) {
      case 'planned':
        return this.issue();
      case 'issued':
        return this.deploy();
      case 'deployed':
        return this.verify();
      case 'verified':
        return this.commit();
      case 'rolling-back':
        return this.rollBack();
      case 'rolled-back':
        return this.escalate();
      default:
        throw new Error(`no step from ${this.rec.state}`);
    }
  }

  private async issue(): Promise<void> {
    const { deps, managed, rec } = this;
    const issuer = deps.issuers.get(managed.issuer);
    if (!issuer) return this.escalateUnchanged(`issuance failed: issuer ${managed.issuer} is not available; configure it or change the certificate's issuer`);
    let issued;
    try {
      issued = await issuer.issue(
        {
          tenantId: this.ctx.tenantId,
          certificateId: managed.id,
          commonName: managed.dnsNames[0] ?? managed.ipAddresses?.[0] ?? managed.id,
          dnsNames: managed.dnsNames,
          ipAddresses: managed.ipAddresses ?? [],
          keyType: managed.keyType ?? 'ec-p256',
          validityDays: managed.validityDays ?? DEFAULT_VALIDITY_DAYS,
        },
        { replaces: rec.replaces ?? undefined, idempotencyKey: rec.rotationId },
      );
    } catch (err) {
      if (err instanceof RetryableError) throw err;
      // Nothing was deployed: the old certificate is still in place, and a human must look.
      return this.escalateUnchanged(`issuance failed: ${errorMessage(err)}`);
    }
    const keyName = stagedKeyName(managed.id);
    await deps.keys.put(this.ctx.tenantId, keyName, issued.privateKeyPem);
    const provenance = issued.provenance ? { ca: issued.provenance.ca, challenge: issued.provenance.challenge ?? null, durationMs: issued.provenance.durationMs } : null;
    await this.transition(
      'issued',
      {
        issued: {
          fingerprint: issued.fingerprintSha256,
          notBefore: issued.notBefore,
          notAfter: issued.notAfter,
          certificatePem: issued.certificatePem,
          chainPem: issued.chainPem,
          keyName,
          issuer: issuer.name,
          provenance,
        },
      },
      {},
      { issuer: issuer.name, reason: rec.reason, fingerprint: issued.fingerprintSha256, notAfter: issued.notAfter, ...(provenance ?? {}) },
    );
  }

  private async deploy(): Promise<void> {
    const { deps, managed } = this;
    const issued = this.rec.issued!;
    // The certificate and its key are recorded here now: the issuer's own copy can go.
    await deps.issuers.get(issued.issuer)?.release?.(this.ctx.tenantId, managed.id, this.rec.rotationId);
    const privateKeyPem = await deps.keys.get(this.ctx.tenantId, issued.keyName);
    if (!privateKeyPem) return this.startRollback('deploy', `deployment failed: the new private key ${issued.keyName} is no longer in the key store; nothing new was deployed`);
    const material = { certificatePem: issued.certificatePem, chainPem: issued.chainPem, privateKeyPem };
    const plan = deploymentPlan(this.targets, this.endpoints.length, deps.rotation.canaryThreshold);
    for (const index of plan.order) {
      if (this.rec.deployments.some((d) => d.target === index)) continue; // deployed before a crash
      const target = this.targets[index];
      let receipt: DeploymentReceipt;
      try {
        receipt = await deps.deployer.deploy(target, material);
      } catch (err) {
        if (err instanceof RetryableError) throw err;
        this.ctx.log.error({ err, certificateId: managed.id, target: describeTarget(target) }, 'deployment failed');
        // With a receipt the new material was placed (the reload failed): it is restored with the rest.
        if (err instanceof DeploymentError && err.receipt) await this.recordDeployment(index, err.receipt);
        return this.startRollback('deploy', `deployment failed: ${this.targetLabel(index)}: ${errorMessage(err)}`);
      }
      await this.recordDeployment(index, receipt);
      if (index === plan.canary) {
        const check = await this.waitServed(this.servedBy(index), issued.fingerprint);
        if (!check.ok) return this.startRollback('verify', `verification failed: canary ${this.targetLabel(index)}: ${describePending(check)}`);
        await this.ctx.audit('rotation.canary-verified', { certificateId: managed.id, rotationId: this.rec.rotationId, target: index, verified: check.verified });
      }
    }
    await this.transition('deployed', {}, {}, { fingerprint: issued.fingerprint, targets: this.targets.map(describeTarget) });
  }

  /**
   * A commit needs proof that the new certificate is in place: every address of every endpoint
   * serves it (at least one address), or a target whose deployer reads its deployment back holds
   * it. Nothing verified is a failure, never a vacuous pass.
   */
  private async verify(): Promise<void> {
    const fingerprint = this.rec.issued!.fingerprint;
    const check = await this.waitServed(this.endpoints, fingerprint);
    if (!check.ok) {
      this.ctx.log.error({ certificateId: this.managed.id, pending: check.pending }, 'verification failed; rolling back');
      return this.startRollback('verify', `verification failed: ${describePending(check)}`);
    }
    const readBack: number[] = [];
    for (const { target, receipt } of this.rec.deployments) {
      if (!SELF_VERIFYING_TARGET_TYPES.includes(receipt.target.type) || !this.deps.deployer.readBack) continue;
      let found: { fingerprintSha256: string } | null;
      try {
        found = await this.deps.deployer.readBack(receipt);
      } catch (err) {
        if (err instanceof RetryableError) throw err;
        // Refused for good (access denied, the vault gone): unproven, so undone, never left half-way.
        return this.startRollback('verify', `verification failed: reading ${this.targetLabel(target)} back failed: ${errorMessage(err)}`);
      }
      if (found?.fingerprintSha256 !== fingerprint) {
        return this.startRollback('verify', `verification failed: ${this.targetLabel(target)} holds ${found?.fingerprintSha256.slice(0, 12) ?? 'nothing'}, not the new certificate`);
      }
      readBack.push(target);
    }
    if (check.verified.length === 0 && readBack.length === 0) {
      return this.startRollback('verify', 'verification failed: nothing proved the new certificate is in place (no address of any endpoint answered, and no target reads its deployment back); not committing unverified');
    }
    await this.transition('verified', { verified: check.verified, readBack }, {}, { fingerprint, verified: check.verified, readBack, ...(check.unroutable ? { unroutable: check.unroutable } : {}) });
  }

  private async commit(): Promise<void> {
    const r = this.rec;
    const issued = r.issued!;
    await this.transition(
      'committed',
      { lease: null },
      {
        deployedFingerprint: issued.fingerprint,
        notAfter: issued.notAfter,
        lastRotation: { at: this.deps.clock.now().toISOString(), outcome: 'committed', fromFingerprint: r.fromFingerprint, toFingerprint: issued.fingerprint, reason: r.reason },
        recentRotationIds: this.recent(),
        deployedAt: this.deps.clock.now().toISOString(),
      },
      { from: r.fromFingerprint, to: issued.fingerprint, verified: r.verified, level: r.decision.level },
    );
    await this.forgetStagedKey();
    this.deps.metrics?.rotation(this.ctx.tenantId, 'committed');
    this.ctx.log.info({ certificateId: this.managed.id, to: issued.fingerprint, verified: r.verified.length }, 'rotation committed');
    if (isKeyCompromise(r.reason)) await this.retireCompromised();
  }

  /**
   * Key compromise: once the new certificate is committed, nothing of the old key is kept (no
   * rollback window) and the old certificate is revoked through its CA. Before the commit the
   * backups were kept: a failed rotation restores what was served (the compromised key, still
   * better than an outage) and escalates. What fails here is finished by the key-retirement job.
   */
  private async retireCompromised(): Promise<void> {
    try {
      const retired = await retireDeployments(this.deps, this.rec, 'key-compromise');
      await this.save({ ...this.rec, retired }, {});
      await this.ctx.audit('rotation.retired', { certificateId: this.managed.id, rotationId: this.rec.rotationId, why: 'key-compromise', targets: this.rec.deployments.map((d) => d.target) });
      const revocation = await revokeReplaced(this.deps, this.ctx.tenantId, this.rec);
      await this.save({ ...this.rec, revocation }, {});
      await this.ctx.audit('certificate.revocation', { certificateId: this.managed.id, rotationId: this.rec.rotationId, fingerprint: this.rec.fromFingerprint, ...revocation });
    } catch (err) {
      this.ctx.log.error({ err, certificateId: this.managed.id }, 'retiring the compromised key or revoking its certificate failed; the key-retirement job finishes it');
    }
  }

  /** Deletes what a finished rotation's deployers kept, before a new rotation replaces its record (recorded and audited). */
  private async retireSuperseded(previous: RotationRecord): Promise<void> {
    try {
      const retired = await retireDeployments(this.deps, previous, 'superseded');
      if (!(await this.writeOrLose({ ...previous, retired }))) return; // another worker moved on: it retires
      await this.ctx.audit('rotation.retired', { certificateId: this.managed.id, rotationId: previous.rotationId, why: 'superseded', targets: previous.deployments.map((d) => d.target) });
    } catch (err) {
      if (err instanceof RetryableError) throw err;
      // The material is gone or cannot be touched (a human cleaned up): nothing to undo any more.
      this.ctx.log.warn({ err, certificateId: this.managed.id, rotationId: previous.rotationId }, 'could not retire the previous rotation\'s rollback material; starting the new rotation anyway');
      await this.ctx.audit('rotation.retire-failed', { certificateId: this.managed.id, rotationId: previous.rotationId, error: errorMessage(err) });
    }
  }

  private async startRollback(step: 'deploy' | 'verify', reason: string): Promise<void> {
    await this.transition('rolling-back', { failure: { step, reason } }, {}, { step, reason });
  }

  /** Restores every deployed target (last deployed first), then checks the old certificate is served again. */
  private async rollBack(): Promise<void> {
    let restored = true;
    for (const { target, receipt } of [...this.rec.deployments].reverse()) {
      try {
        await this.deps.deployer.restore(receipt);
      } catch (err) {
        restored = false;
        this.ctx.log.error({ err, certificateId: this.managed.id, target: describeTarget(this.targets[target]) }, 'restoring the previous certificate failed');
        await this.ctx.audit('certificate.restore-failed', { certificateId: this.managed.id, rotationId: this.rec.rotationId, target, error: errorMessage(err) });
      }
    }
    // Served-or-not is the truth, whatever the restores reported (a failing reload hook fails both).
    const restoredVerified = await this.oldServed();
    if (restored) {
      await this.transition('rolled-back', { restored, restoredVerified }, {}, { targets: this.rec.deployments.map((d) => d.target), restoredVerified });
      return;
    }
    await this.finishFailed({ restored, restoredVerified }, 'failed');
  }

  private async escalate(): Promise<void> {
    await this.finishFailed({}, 'rolled-back');
  }

  /** An issuance that failed: nothing was deployed; is the old certificate still what is served? */
  private async escalateUnchanged(reason: string): Promise<void> {
    const restoredVerified = await this.oldServed();
    await this.finishFailed({ failure: { step: 'issue', reason }, restored: false, restoredVerified }, 'failed');
  }

  private async finishFailed(patch: Partial<RotationRecord>, outcome: 'rolled-back' | 'failed'): Promise<void> {
    const r = { ...this.rec, ...patch };
    // An overridden rotation had been committed: what is deployed now is the previous certificate again.
    const undone =
      r.failure?.step === 'override' && r.restoredVerified === true
        ? { deployedFingerprint: r.fromFingerprint, notAfter: r.fromNotAfter, deployedAt: this.deps.clock.now().toISOString() }
        : {};
    await this.transition(
      'escalated',
      { ...patch, lease: null },
      {
        ...undone,
        lastRotation: { at: this.deps.clock.now().toISOString(), outcome, fromFingerprint: r.fromFingerprint, toFingerprint: r.issued?.fingerprint ?? null, reason: r.failure?.reason ?? 'rotation failed' },
        recentRotationIds: this.recent(),
      },
      {
        reason: r.failure?.reason ?? null,
        rolledBack: outcome === 'rolled-back',
        restoredVerified: r.restoredVerified === true,
        attempted: r.issued?.fingerprint ?? null,
        escalateTo: (this.tenant.escalation ?? this.tenant.assignee).name,
      },
    );
    await this.forgetStagedKey();
    this.deps.metrics?.rotation(this.ctx.tenantId, outcome);
  }

  private async transition(to: RotationState, patch: Partial<RotationRecord>, docPatch: Partial<ManagedCertificateState>, auditData: Record<string, unknown>): Promise<void> {
    assertTransition(this.rec.state, to);
    const at = this.deps.clock.now().toISOString();
    const auditFrom = (await this.deps.audit.tip(this.ctx.tenantId))?.seq ?? 0;
    const next: RotationRecord = { ...this.rec, ...patch, state: to, history: [...this.rec.history, { state: to, at, auditFrom }] };
    await this.save(next, docPatch);
    await this.auditTransition(to, auditData);
  }

  private async auditTransition(state: RotationState, data: Record<string, unknown>, recovered = false): Promise<void> {
    await this.ctx.audit(ROTATION_AUDIT_KIND[state], { certificateId: this.managed.id, rotationId: this.rec.rotationId, state, ...data, ...(recovered ? { recovered: true } : {}) });
  }

  /**
   * A process that died between saving a transition and auditing it left that transition
   * unaudited: on resume, append what is missing (marked recovered), so each transition is
   * audited once.
   */
  private async auditMissedTransitions(): Promise<void> {
    // Each transition is audited right after it is saved, so only the last can lack its record;
    // it comes after where the chain stood when the transition was saved: read only that tail.
    const last = this.rec.history.at(-1);
    if (!last) return;
    const tail = last.auditFrom !== undefined ? await this.deps.audit.listAfter(this.ctx.tenantId, last.auditFrom) : await this.deps.audit.list(this.ctx.tenantId);
    if (!tail.some((a) => a.data.rotationId === this.rec.rotationId && a.data.state === last.state)) {
      await this.auditTransition(last.state, { reason: this.rec.reason }, true);
    }
  }

  private async recordDeployment(target: number, receipt: DeploymentReceipt): Promise<void> {
    await this.save({ ...this.rec, deployments: [...this.rec.deployments.filter((d) => d.target !== target), { target, receipt }] }, {});
  }

  private save(rotation: RotationRecord, docPatch: Partial<ManagedCertificateState>): Promise<void> {
    const write = this.writes.then(async () => {
      const expected = this.doc.version;
      this.doc = await this.put({ ...this.doc, ...docPatch, rotation, version: expected + 1 }, expected, 'another worker took over this rotation (its lease had run out)');
    });
    this.writes = write.catch(() => undefined);
    return write;
  }

  private async put(doc: ManagedCertificateState, expectedVersion: number, lostMessage: string): Promise<ManagedCertificateState> {
    try {
      return await this.deps.store.putManagedState(doc, expectedVersion);
    } catch (err) {
      if (err instanceof ConcurrencyError) throw new RetryableError(`rotation of ${this.managed.id}: ${lostMessage}`, { cause: err });
      throw err;
    }
  }

  private lease(): { owner: string; until: number } {
    return { owner: this.owner, until: Date.now() + this.deps.rotation.leaseMs };
  }

  /** For an override: the rotation is finished, so a lease held now is another override's. */
  private async takeLease(): Promise<void> {
    const held = this.rec.lease;
    if ((held && held.owner !== this.owner && held.until > Date.now()) || !(await this.writeOrLose({ ...this.rec, lease: this.lease() }))) {
      throw new RetryableError(`rotation ${this.rec.rotationId} of ${this.managed.id} is being changed by another worker; retry later`);
    }
  }

  private async renewLease(): Promise<void> {
    if (isTerminal(this.rec.state)) return;
    await this.save({ ...this.rec, lease: this.lease() }, {});
  }

  private async releaseLease(): Promise<void> {
    await this.save({ ...this.rec, lease: null }, {}).catch((err) => this.ctx.log.warn({ err, certificateId: this.managed.id }, 'could not give the rotation lease back; it runs out by itself'));
  }

  private recent(): string[] {
    return [...(this.doc.recentRotationIds ?? []).filter((id) => id !== this.rec.rotationId), this.rec.rotationId].slice(-RECENT_ROTATIONS);
  }

  private async forgetStagedKey(): Promise<void> {
    const name = this.rec.issued?.keyName;
    if (!name) return;
    await this.deps.keys.delete(this.ctx.tenantId, name).catch((err) => this.ctx.log.warn({ err, certificateId: this.managed.id }, 'the staged key could not be deleted'));
  }

  /** Is the certificate that was there before what every address serves? */
  private async oldServed(): Promise<boolean> {
    const from = this.rec.fromFingerprint;
    return from ? (await this.waitServed(this.endpoints, from)).ok : false;
  }

  private waitServed(endpoints: EndpointRef[], fingerprint: string): Promise<ServedCheck> {
    const o = this.deps.rotation;
    return waitUntilServed(this.deps, endpoints, fingerprint, { timeoutMs: o.verifyTimeoutMs, initialDelayMs: o.verifyInitialDelayMs, maxDelayMs: o.verifyMaxDelayMs, confirmations: o.verifyConfirmations, settleMs: o.verifySettleMs });
  }

  /** The endpoints a target serves (its `serves`, else all of the certificate's). */
  private servedBy(index: number): EndpointRef[] {
    const serves = this.targets[index].serves?.map((id) => id.toLowerCase());
    return serves ? this.endpoints.filter((e) => serves.includes(e.endpointId)) : this.endpoints;
  }

  private targetLabel(index: number): string {
    return this.targets.length > 1 ? `target ${index + 1} of ${this.targets.length} (${describeTarget(this.targets[index])})` : describeTarget(this.targets[index]);
  }
}

/**
 * Observation and deployment times come from different clocks (the discover and rotate stages may
 * run on different instances): an observation this close after a deployment still counts as made
 * before it. A certificate really put back by hand is seen again by the next sweep.
 */
export const STALE_OBSERVATION_SKEW_MS = 60_000;

/**
 * Why a new rotation for `request` would act on a stale observation (null: it would not). Once
 * certops has deployed a certificate, a request to replace another one rests on an observation
 * made before that deployment (redelivered after a crash, or from a sweep that overlapped it):
 * the certificate it names is no longer deployed, and rotating again would replace the fresh one.
 * Decided by the time of the observation, never of the request or the gate decision. A
 * certificate observed after the deployment that certops did not deploy (a human put one back, or
 * another in its place) is real work: certops replaces it, and the gate weighs the risk.
 */
export function staleRequest(doc: Pick<ManagedCertificateState, 'deployedFingerprint' | 'deployedAt' | 'lastRotation'>, request: Pick<RotationRequest, 'fromFingerprint' | 'observedAt'>): string | null {
  const deployed = doc.deployedFingerprint;
  if (!deployed || request.fromFingerprint === deployed) return null;
  // Records written before deployedAt existed: the last commit is when the deployment happened.
  const deployedAt = doc.deployedAt ?? (doc.lastRotation?.outcome === 'committed' ? doc.lastRotation.at : null);
  if (!deployedAt || Date.parse(request.observedAt) >= Date.parse(deployedAt) + STALE_OBSERVATION_SKEW_MS) return null;
  return `observed ${request.fromFingerprint?.slice(0, 16) ?? 'nothing served'} at ${request.observedAt}, before certops deployed ${deployed.slice(0, 16)} at ${deployedAt}`;
}

function describeTarget(target: DeploymentTarget): string {
  switch (target.type) {
    case 'files':
      return `files ${target.certFile}`;
    case 'key-vault':
      return `key vault ${target.vaultUrl} ${target.certificateName}`;
    case 'rmm-script':
      return `${target.rmm} device ${target.deviceId} site ${target.site}`;
    default:
      return `${target.type} ${target.resourceId}`;
  }
}

function describePending(check: ServedCheck): string {
  return check.pending.map((p) => `${p.endpointId} at ${p.address || '?'} serves ${p.served?.slice(0, 12) ?? p.error ?? 'nothing'}`).join('; ');
}
