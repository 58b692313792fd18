/**
 * KeyVaultDeployer: deploys to a Key Vault certificate (target type 'key-vault'). The material
 * (certificate, chain, key as one PEM) is imported as a new version of `certificateName`; App
 * Service, Front Door and Application Gateway bound to the versionless id pick the new version up
 * on their next sync. There is no reload step to fail.
 *
 * The receipt's backup records, as strings: the vault and certificate, `previousVersion` (the
 * version that served before, null when there was none or it was disabled), whether its key was
 * exportable (from the certificate policy at deploy time), and `deployedVersion`.
 *
 * Same material again (a rotation resumed after a crash): when the latest version already holds
 * this certificate (same SHA-1 thumbprint, enabled), nothing is imported and the receipt points at
 * the version before it. That version is read from the tags certops wrote on the import
 * (`certops-previous-version`), not from creation times, which have one-second resolution.
 *
 * Restore re-imports the previous version's material, read from that version's secret (which
 * holds the key only when the policy made it exportable), as a new version; restoring twice is
 * harmless (the second sees the previous certificate already latest). When there was no previous
 * version, restore disables the deployed one. A non-exportable previous key cannot be put back by
 * certops: PermanentError says so and a human re-binds or re-issues.
 *
 * Retire (the rollback window ended) disables the previous version: its secret, and so its private
 * key, can no longer be read, and nothing bound to that version can use it. Key Vault cannot delete
 * one version of a certificate (delete and purge act on the whole certificate, every version and
 * the one serving now), so a disabled version is as far as certops can go; the key material stays
 * in the vault until the certificate itself is deleted and purged. Retire then tags the deployed
 * version (`certops-rollback: retired`), so that a restore of the receipt is refused with a
 * PermanentError saying the window ended, even when there was no previous version to disable.
 * It refuses to disable a previous version that is the one the certificate serves now.
 *
 * Read back (SELF_VERIFYING_TARGET_TYPES): the SHA-256 of the DER of the certificate in the
 * deployed version, null when that version is gone or disabled (a disabled version serves nothing).
 */
import { createHash } from 'node:crypto';
import type { Clock } from '../../domain/clock';
import { systemClock } from '../../domain/clock';
import { PermanentError } from '../../domain/errors';
import type { DeploymentTarget, KeyVaultTarget } from '../../config/model';
import type { CertificateMaterial, Deployer, DeploymentReceipt } from '../../ports/deployer';
import type { KeyVaultClients } from './key-vault-clients';
import { KeyVaultCertificateVault, PEM_CONTENT_TYPE, pemCertificates, type VaultCertificate } from './key-vault-certificate-vault';
import { isDisabledSecret, KeyVaultRefusedError, mapKeyVaultError } from './key-vault-errors';

export const PREVIOUS_VERSION_TAG = 'certops-previous-version';
export const PREVIOUS_EXPORTABLE_TAG = 'certops-previous-exportable';
/** Set on the deployed version by retire: the rollback window of its deployment has ended. */
export const ROLLBACK_TAG = 'certops-rollback';
const RETIRED = 'retired';
const NONE = 'none';

export interface KeyVaultDeployerOptions {
  /** The SDK clients of a vault (one pair per vault URL; cache them, the challenge is per client). */
  clientsFor(vaultUrl: string): KeyVaultClients;
  clock?: Clock;
  pollIntervalInMs?: number;
}

interface Backup {
  vaultUrl: string;
  certificateName: string;
  previousVersion: string | null;
  previousKeyExportable: string | null;
  deployedVersion: string;
}

export class KeyVaultDeployer implements Deployer {
  readonly handles = ['key-vault'] as const;
  private readonly clock: Clock;

  constructor(private readonly options: KeyVaultDeployerOptions) {
    this.clock = options.clock ?? systemClock;
  }

  async deploy(deploymentTarget: DeploymentTarget, material: CertificateMaterial): Promise<DeploymentReceipt> {
    const target = keyVaultTarget(deploymentTarget);
    const vault = this.vault(target.vaultUrl);
    const name = target.certificateName;
    const thumbprint = sha1Hex(material.certificatePem);
    const latest = await vault.get(name);

    if (latest && latest.enabled && latest.thumbprintSha1 === thumbprint) {
      // Already deployed by an earlier attempt: report what came before that attempt.
      const before = await this.versionBefore(vault, name, latest);
      return this.receipt(target, { previousVersion: before.version, previousKeyExportable: before.exportable, deployedVersion: latest.version });
    }

    const previousVersion = latest?.enabled ? latest.version : null;
    const previousKeyExportable = previousVersion ? String(latest?.policy?.exportable !== false) : null;
    const pem = `${material.privateKeyPem.trim()}\n${material.certificatePem.trim()}\n${material.chainPem.trim()}\n`;
    const imported = await vault.importPem(name, pem, {
      tags: { [PREVIOUS_VERSION_TAG]: previousVersion ?? NONE, [PREVIOUS_EXPORTABLE_TAG]: previousKeyExportable ?? NONE },
    });
    return this.receipt(target, { previousVersion, previousKeyExportable, deployedVersion: imported.version });
  }

  async restore(receipt: DeploymentReceipt): Promise<void> {
    const target = keyVaultTarget(receipt.target);
    const backup = receipt.backup as unknown as Backup;
    const vault = this.vault(backup.vaultUrl ?? target.vaultUrl);
    const name = backup.certificateName ?? target.certificateName;

    const deployed = await vault.get(name, backup.deployedVersion);
    if (deployed?.tags[ROLLBACK_TAG] === RETIRED) {
      throw new PermanentError(
        `the rollback window of the deployment of certificate "${name}" version ${backup.deployedVersion} in ${backup.vaultUrl} has ended ` +
          `(${backup.previousVersion ? `version ${backup.previousVersion} was disabled` : 'it was retired'}): nothing is left to restore; deploy the material the services should serve instead`,
      );
    }
    if (!backup.previousVersion) {
      await vault.setEnabled(name, backup.deployedVersion, false);
      return;
    }
    if (backup.previousKeyExportable === 'false') throw notExportable(name, backup);

    const previous = await vault.get(name, backup.previousVersion);
    if (!previous) {
      throw new PermanentError(
        `cannot restore certificate "${name}" in ${backup.vaultUrl}: version ${backup.previousVersion} no longer exists; ` +
          'bind the services to a known-good version by hand or re-issue',
      );
    }
    const latest = await vault.get(name);
    if (latest && latest.enabled && latest.thumbprintSha1 === previous.thumbprintSha1) return; // restored already

    const secret = await this.readVersionSecret(backup, name);
    const tags = { [PREVIOUS_VERSION_TAG]: backup.deployedVersion, [PREVIOUS_EXPORTABLE_TAG]: 'true' };
    if (secret.contentType === PEM_CONTENT_TYPE) {
      if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(secret.value)) throw notExportable(name, backup);
      await vault.importPem(name, secret.value, { tags });
    } else {
      try {
        await vault.importPfx(name, Buffer.from(secret.value, 'base64'), { tags });
      } catch (err) {
        // A PKCS#12 without its key (a non-exportable version) is refused by the import.
        if (err instanceof KeyVaultRefusedError && err.status === 400) throw notExportable(name, backup, err);
        throw err;
      }
    }
  }

  /**
   * Disables the previous version (the key the rollback window kept), then marks the deployed
   * version retired. Idempotent: a version already disabled or a mark already set is left as is.
   */
  async retire(receipt: DeploymentReceipt): Promise<void> {
    const target = keyVaultTarget(receipt.target);
    const backup = receipt.backup as unknown as Backup;
    const vault = this.vault(backup.vaultUrl ?? target.vaultUrl);
    const name = backup.certificateName ?? target.certificateName;

    if (backup.previousVersion) {
      const previous = await vault.get(name, backup.previousVersion);
      if (previous?.enabled) {
        const latest = await vault.get(name);
        if (latest?.version === backup.previousVersion) {
          throw new PermanentError(
            `certificate "${name}" in ${backup.vaultUrl} serves version ${backup.previousVersion} now, the one this receipt kept for rollback; it is not disabled ` +
              '(that would take the services bound to the certificate down): find out why it serves again before ending the window',
          );
        }
        await vault.setEnabled(name, backup.previousVersion, false);
      }
    }
    const deployed = await vault.get(name, backup.deployedVersion);
    if (deployed && deployed.tags[ROLLBACK_TAG] !== RETIRED) {
      try {
        await this.options.clientsFor(backup.vaultUrl).certificates.updateCertificateProperties(name, backup.deployedVersion, {
          tags: { ...deployed.tags, [ROLLBACK_TAG]: RETIRED }, // a PATCH replaces the tags: keep certops' others
        });
      } catch (err) {
        throw mapKeyVaultError(err, `mark certificate "${name}" version ${backup.deployedVersion} retired in ${backup.vaultUrl}`);
      }
    }
  }

  /** The SHA-256 (hex) of the certificate in the deployed version; null when the version is gone or disabled. */
  async readBack(receipt: DeploymentReceipt): Promise<{ fingerprintSha256: string } | null> {
    const target = keyVaultTarget(receipt.target);
    const backup = receipt.backup as unknown as Backup;
    const name = backup.certificateName ?? target.certificateName;
    const deployed = await this.vault(backup.vaultUrl ?? target.vaultUrl).get(name, backup.deployedVersion);
    if (!deployed?.enabled) return null;
    const [der] = pemCertificates(deployed.certificatePem);
    return der ? { fingerprintSha256: createHash('sha256').update(der).digest('hex') } : null;
  }

  private vault(vaultUrl: string): KeyVaultCertificateVault {
    return new KeyVaultCertificateVault(this.options.clientsFor(vaultUrl).certificates, { pollIntervalInMs: this.options.pollIntervalInMs });
  }

  /** The version that served before `latest` was deployed: from certops' tags, else the newest older version. */
  private async versionBefore(vault: KeyVaultCertificateVault, name: string, latest: VaultCertificate): Promise<{ version: string | null; exportable: string | null }> {
    const tagged = latest.tags[PREVIOUS_VERSION_TAG];
    if (tagged !== undefined) {
      const exportable = latest.tags[PREVIOUS_EXPORTABLE_TAG];
      return { version: tagged === NONE ? null : tagged, exportable: !exportable || exportable === NONE ? null : exportable };
    }
    const older = (await vault.listVersions(name))
      .filter((v) => v.version !== latest.version && v.enabled && v.createdOn && latest.createdOn && v.createdOn <= latest.createdOn)
      .sort((a, b) => b.createdOn!.getTime() - a.createdOn!.getTime());
    return { version: older[0]?.version ?? null, exportable: older[0] ? 'true' : null };
  }

  private async readVersionSecret(backup: Backup, name: string): Promise<{ value: string; contentType?: string }> {
    try {
      const secret = await this.options.clientsFor(backup.vaultUrl).secrets.getSecret(name, { version: backup.previousVersion! });
      if (!secret.value) throw notExportable(name, backup);
      return { value: secret.value, contentType: secret.properties.contentType };
    } catch (err) {
      if (isDisabledSecret(err)) {
        throw new PermanentError(
          `cannot restore certificate "${name}" in ${backup.vaultUrl}: version ${backup.previousVersion} is disabled; ` +
            'enable it in the vault if it is safe to serve, then restore again',
        );
      }
      throw mapKeyVaultError(err, `read the material of certificate "${name}" version ${backup.previousVersion} (its secret) from ${backup.vaultUrl}`);
    }
  }

  private receipt(target: KeyVaultTarget, facts: Omit<Backup, 'vaultUrl' | 'certificateName'>): DeploymentReceipt {
    const backup: Backup = { vaultUrl: target.vaultUrl, certificateName: target.certificateName, ...facts };
    return { target, backup: { ...backup }, deployedAt: this.clock.now().toISOString() };
  }
}

function keyVaultTarget(target: DeploymentTarget): KeyVaultTarget {
  if (target.type !== 'key-vault') {
    throw new PermanentError(`KeyVaultDeployer cannot deploy to a '${target.type}' target; route it to the deployer for that type`);
  }
  return target;
}

function notExportable(name: string, backup: Backup, cause?: unknown): PermanentError {
  return new PermanentError(
    `cannot restore certificate "${name}" in ${backup.vaultUrl} to version ${backup.previousVersion}: its private key is not exportable, ` +
      'so certops cannot re-import it; a human must bind the services to that version explicitly (versioned id) or re-issue',
    cause === undefined ? undefined : { cause },
  );
}

function sha1Hex(certificatePem: string): string {
  const [der] = pemCertificates(certificatePem);
  if (!der) throw new PermanentError('the material holds no PEM CERTIFICATE block to deploy');
  return createHash('sha1').update(der).digest('hex');
}
