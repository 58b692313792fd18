/**
 * Deployer: puts a certificate, its chain and its key where the endpoint serves them, then makes
 * the endpoint load them (reload command or HTTP hook).
 *
 * Contract:
 * - `deploy` writes atomically (temporary file, then rename; keys 0600) and returns a receipt that
 *   holds what was there before, so that `restore` can put it back.
 * - `restore(receipt)` is idempotent and reloads again.
 * - A failed reload throws DeploymentError after the files were written; the caller restores.
 */
import type { DeploymentTarget } from '../config/model';

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
  deploy(target: DeploymentTarget, material: CertificateMaterial): Promise<DeploymentReceipt>;
  restore(receipt: DeploymentReceipt): Promise<void>;
}
