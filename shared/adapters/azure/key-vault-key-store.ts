/**
 * KeyVaultKeyStore: the Azure runtime's KeyStore (ports/key-store.ts), one Key Vault secret per
 * (tenant, name), over an injected SecretClient. Key Vault encrypts at rest (HSM-backed keys);
 * this adapter adds naming, tagging and the "deleted" state.
 *
 * Names: Key Vault object names allow only [0-9a-zA-Z-], 1 to 127 characters. A certops name such
 * as `acme/orders/www` is mapped to `ks-<tenant>--<name>-<hash>`: the readable part has every other
 * character turned into '-' and is cut to fit, and the hash (SHA-256 of the JSON pair, 16 hex
 * digits) keeps distinct pairs apart even when their readable parts agree ('a/b' and 'a-b', or two
 * long names sharing 100 characters). The tags `tenant` and `name` hold the originals, and `get`
 * refuses a secret whose tags disagree rather than hand one tenant's key to another.
 *
 * Delete disables instead of deleting. Key Vault soft-delete (on by default, mandatory on new
 * vaults) keeps a deleted secret recoverable for its retention period (7–90 days), and while it
 * is, the name is taken: the next `put` of the same (tenant, name) would fail with 409 Conflict
 * until someone purges it (purge needs an extra permission and defeats the point of soft-delete).
 * So `delete` disables the latest version (`enabled: false`); a read of a disabled version answers
 * 403 SecretDisabled, which `get` reports as absent, and the next `put` adds a fresh, enabled
 * version under the same name. Old versions stay in the vault, disabled, until purged by policy.
 *
 * Values never reach logs or errors: errors carry the secret's name and Key Vault's status only.
 */
import { createHash } from 'node:crypto';
import type { SecretClient } from '@azure/keyvault-secrets';
import { PermanentError } from '../../domain/errors';
import type { KeyStore } from '../../ports/key-store';
import { isDisabledSecret, isNotFound, mapKeyVaultError } from './key-vault-errors';

export const KEY_STORE_CONTENT_TYPE = 'application/x-pem-file';
export const MAX_SECRET_NAME_LENGTH = 127;
const PREFIX = 'ks-';
const HASH_HEX_DIGITS = 16; // 64 bits: a collision needs ~2^32 names per vault
const TAG_VALUE_MAX = 256; // Key Vault tag values are limited to 256 characters

/** The Key Vault secret name of (tenantId, name): valid, deterministic, distinct for distinct pairs. */
export function secretNameFor(tenantId: string, name: string): string {
  const hash = createHash('sha256').update(JSON.stringify([tenantId, name])).digest('hex').slice(0, HASH_HEX_DIGITS);
  const readable = `${sanitize(tenantId)}--${sanitize(name)}`;
  const room = MAX_SECRET_NAME_LENGTH - PREFIX.length - 1 - HASH_HEX_DIGITS;
  return `${PREFIX}${readable.slice(0, room).replace(/-+$/, '')}-${hash}`;
}

function sanitize(part: string): string {
  return part.replace(/[^0-9a-zA-Z]+/g, '-').replace(/^-+|-+$/g, '');
}

export class KeyVaultKeyStore implements KeyStore {
  constructor(private readonly client: SecretClient) {}

  async put(tenantId: string, name: string, secretPem: string): Promise<void> {
    const secretName = secretNameFor(tenantId, name);
    try {
      await this.client.setSecret(secretName, secretPem, {
        contentType: KEY_STORE_CONTENT_TYPE,
        tags: { tenant: tagValue(tenantId), name: tagValue(name) },
      });
    } catch (err) {
      throw mapKeyVaultError(err, `store key "${name}" of tenant ${tenantId} as secret ${secretName} in ${this.client.vaultUrl}`);
    }
  }

  /** Null when the secret never existed or its latest version is disabled (deleted through this store). */
  async get(tenantId: string, name: string): Promise<string | null> {
    const secretName = secretNameFor(tenantId, name);
    try {
      const secret = await this.client.getSecret(secretName);
      const tags = secret.properties.tags ?? {};
      if (tags.tenant !== tagValue(tenantId) || tags.name !== tagValue(name)) {
        throw new PermanentError(
          `secret ${secretName} in ${this.client.vaultUrl} is not tagged as key "${name}" of tenant ${tenantId}; ` +
            'it was written by something other than certops: rename or remove it',
        );
      }
      return secret.value ?? null;
    } catch (err) {
      if (isNotFound(err) || isDisabledSecret(err)) return null;
      throw mapKeyVaultError(err, `read key "${name}" of tenant ${tenantId} (secret ${secretName}) from ${this.client.vaultUrl}`);
    }
  }

  /** Disables the latest version (see the file comment for why not DELETE); absent or already disabled is fine. */
  async delete(tenantId: string, name: string): Promise<void> {
    const secretName = secretNameFor(tenantId, name);
    try {
      // The latest version's id is only known from a read; the value read here is dropped unused.
      const latest = await this.client.getSecret(secretName);
      if (!latest.properties.version) return;
      await this.client.updateSecretProperties(secretName, latest.properties.version, { enabled: false });
    } catch (err) {
      if (isNotFound(err) || isDisabledSecret(err)) return;
      throw mapKeyVaultError(err, `disable key "${name}" of tenant ${tenantId} (secret ${secretName}) in ${this.client.vaultUrl}`);
    }
  }
}

/** Tags hold the original names for operators; a longer name is cut (the secret name's hash still tells them apart). */
function tagValue(value: string): string {
  return value.slice(0, TAG_VALUE_MAX);
}
