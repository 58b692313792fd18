/**
 * Decorators for the rotation crash tests: they wrap the store, the issuers and the deployer of a
 * pipeline (EmbeddedOptions.decorate) to
 * - record every side effect that leaves the process (a certificate issued, deployed, restored) as
 *   one JSON line appended synchronously to a log file, so the record survives a SIGKILL that
 *   follows it on the next line;
 * - kill the process (SIGKILL: no cleanup, no settlement, locks and leases left behind) at a chosen
 *   point: right after a rotation state is persisted, or between a side effect and its persistence.
 *
 * The decorators never change what the wrapped call returns or throws.
 */
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { parsePemBundle } from '../../shared/domain/certificate';
import { ROTATION_STATES, type RotationState } from '../../shared/domain/rotation';
import type { PipelineDeps } from '../../shared/pipeline/stage';
import type { CertificateStore, ManagedCertificateState } from '../../shared/ports/certificate-store';
import type { Deployer } from '../../shared/ports/deployer';
import type { Issuer } from '../../shared/ports/issuer';

/** Mid-step points: the side effect happened, its result is not persisted yet. */
export const MID_STEP_KILL_POINTS = ['after-issue', 'after-deploy'] as const;
/** Where a crash child may die: right after a rotation state is saved, or mid-step. */
export type KillPoint = RotationState | (typeof MID_STEP_KILL_POINTS)[number];

export function isKillPoint(text: string): text is KillPoint {
  return (ROTATION_STATES as readonly string[]).includes(text) || (MID_STEP_KILL_POINTS as readonly string[]).includes(text);
}

/** One line of the side-effect log. `pid` tells which process (the killed one or its successor) acted. */
export type SideEffect =
  | { kind: 'issue'; pid: number; issuer: string; certificateId: string; fingerprint: string; idempotencyKey: string | null }
  | { kind: 'deploy'; pid: number; fingerprint: string; target: string }
  | { kind: 'deploy-failed'; pid: number; fingerprint: string; target: string; error: string }
  | { kind: 'restore'; pid: number; target: string };

export interface CrashDecoration {
  /** The JSON Lines file side effects are appended to. */
  logFile: string;
  /** Where to die; undefined: never. */
  killAt?: KillPoint;
  /** How to die (default: SIGKILL to this very process). Tests in-process pass a spy. */
  kill?: () => void;
}

/** Wraps `deps.store`, every issuer and the deployer; see the file comment. */
export function crashDecorated(deps: PipelineDeps, decoration: CrashDecoration): PipelineDeps {
  const kill = decoration.kill ?? (() => process.kill(process.pid, 'SIGKILL'));
  const record = (effect: SideEffect): void => appendFileSync(decoration.logFile, `${JSON.stringify(effect)}\n`);
  let killed = false;
  const killIf = (point: KillPoint): void => {
    if (decoration.killAt !== point || killed) return;
    killed = true;
    kill();
  };
  return {
    ...deps,
    store: killingStore(deps.store, killIf),
    issuers: new Map([...deps.issuers].map(([name, issuer]) => [name, recordingIssuer(issuer, record, killIf)])),
    deployer: recordingDeployer(deps.deployer, record, killIf),
  };
}

/** Reads the side-effect log (empty when nothing was logged). */
export function readSideEffects(logFile: string): SideEffect[] {
  if (!existsSync(logFile)) return [];
  return readFileSync(logFile, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as SideEffect);
}

/** SHA-256 of the DER of the first certificate in a PEM text (what a handshake would show). */
export function pemFingerprint(pem: string): string {
  return parsePemBundle(pem)[0].fingerprintSha256;
}

function killingStore(store: CertificateStore, killIf: (point: KillPoint) => void): CertificateStore {
  return new Proxy(store, {
    get(target, property, receiver) {
      if (property === 'putManagedState') {
        return async (state: ManagedCertificateState, expectedVersion: number) => {
          const saved = await target.putManagedState(state, expectedVersion);
          const reached = state.rotation?.state;
          if (reached) killIf(reached);
          return saved;
        };
      }
      const value: unknown = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

function recordingIssuer(issuer: Issuer, record: (e: SideEffect) => void, killIf: (point: KillPoint) => void): Issuer {
  return new Proxy(issuer, {
    get(target, property, receiver) {
      if (property === 'issue') {
        return async (...args: Parameters<Issuer['issue']>) => {
          const issued = await target.issue(...args);
          const [request, options] = args;
          const idempotencyKey = (options as { idempotencyKey?: string } | undefined)?.idempotencyKey ?? null;
          record({ kind: 'issue', pid: process.pid, issuer: target.name, certificateId: request.certificateId, fingerprint: issued.fingerprintSha256, idempotencyKey });
          killIf('after-issue');
          return issued;
        };
      }
      const value: unknown = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

function recordingDeployer(deployer: Deployer, record: (e: SideEffect) => void, killIf: (point: KillPoint) => void): Deployer {
  return new Proxy(deployer, {
    get(target, property, receiver) {
      if (property === 'deploy') {
        return async (...args: Parameters<Deployer['deploy']>) => {
          const [deploymentTarget, material] = args;
          const fingerprint = pemFingerprint(material.certificatePem);
          try {
            const receipt = await target.deploy(...args);
            record({ kind: 'deploy', pid: process.pid, fingerprint, target: describeTarget(deploymentTarget) });
            killIf('after-deploy');
            return receipt;
          } catch (err) {
            record({ kind: 'deploy-failed', pid: process.pid, fingerprint, target: describeTarget(deploymentTarget), error: String(err) });
            throw err;
          }
        };
      }
      if (property === 'restore') {
        return async (...args: Parameters<Deployer['restore']>) => {
          await target.restore(...args);
          record({ kind: 'restore', pid: process.pid, target: describeTarget(args[0].target) });
        };
      }
      const value: unknown = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

function describeTarget(target: Parameters<Deployer['deploy']>[0]): string {
  return target.type === 'files' ? `files:${target.certFile}` : target.type;
}
