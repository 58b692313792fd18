/**
 * Deployer: puts a certificate, its chain and its key where the endpoint serves them, then makes
 * the endpoint load them (reload command, HTTP hook, a new Key Vault version, a binding update,
 * an RMM script).
 *
 * Contract:
 * - `handles` lists the target types the deployer accepts; `deploy` refuses others with a
 *   PermanentError (a configuration the runtime cannot serve).
 * - `deploy` replaces atomically (files: temporary file, then rename; keys 0600) and returns a
 *   receipt that holds what was there before, so that `restore` can put it back.
 * - Deploying the same material again (a rotation resumed after a crash) is safe: the receipt
 *   still points at what was there before the first attempt, never at the new material.
 * - `restore(receipt)` is idempotent and makes the endpoint load the previous material again.
 * - A failed reload throws DeploymentError after the new material was placed; the caller restores.
 *
 * Seams: files (here), Key Vault (the Azure runtime), App Service / Front Door / Application
 * Gateway bindings through ARM, and RMM scripts (NinjaOne, Datto RMM) for Windows/IIS: each is a
 * Deployer for its target type, composed by RoutingDeployer.
 */
import type { DeploymentTarget, DeploymentTargetType } from '../config/model';

export interface CertificateMaterial {
  certificatePem: string;
  chainPem: string;
  privateKeyPem: string;
}

export interface DeploymentReceipt {
  target: DeploymentTarget;
  /** Opaque to callers; the deployer's record of the previous files (kept as backup files, never in the store). */
  backup: Record<string, string | null>;
  deployedAt: string;
}

export class DeploymentError extends Error {
  /** Present when files were already written (e.g. the reload failed): pass it to `restore`. */
  readonly receipt?: DeploymentReceipt;

  constructor(message: string, options?: { cause?: unknown; receipt?: DeploymentReceipt }) {
    super(message, options);
    this.name = 'DeploymentError';
    this.receipt = options?.receipt;
  }
}

export interface Deployer {
  readonly handles: readonly DeploymentTargetType[];
  deploy(target: DeploymentTarget, material: CertificateMaterial): Promise<DeploymentReceipt>;
  restore(receipt: DeploymentReceipt): Promise<void>;
  /**
   * The rollback window has ended (or the replaced key was compromised): deletes what `deploy`
   * kept so that `restore` could put the previous material back, the previous private key above
   * all (files: the `.certops-prev` backups; Key Vault: the previous version is disabled).
   * Idempotent; afterwards `restore(receipt)` throws a PermanentError saying the window ended.
   */
  retire(receipt: DeploymentReceipt): Promise<void>;
  /**
   * For target types that prove themselves (SELF_VERIFYING_TARGET_TYPES): reads back what the
   * deployment placed and returns the SHA-256 fingerprint (hex) of the certificate there now;
   * null when it is not there. Absent for targets only a handshake can prove.
   */
  readBack?(receipt: DeploymentReceipt): Promise<{ fingerprintSha256: string } | null>;
}
