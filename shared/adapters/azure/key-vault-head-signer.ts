/**
 * KeyVaultHeadSigner: the Azure runtime's HeadSigner (ports/audit-head-log.ts). The audit heads
 * are signed by a Key Vault key (EC P-256, ES256: ECDSA over the SHA-256 digest, RFC 7518 §3.4)
 * through the `sign` operation, so the private key never leaves the vault: whoever can write
 * Cosmos DB and the Blob container, or read every app setting and secret, still cannot sign a head.
 * The key is created by the Pulumi program (infra/key-vault.ts, control plane); the Function App's
 * identity may only get it and sign with it (Key Vault Crypto User, on that key).
 *
 * Observes: the key's current version (read once, at start) and, for heads signed before a key
 * rotation, the public key of the version a head names (read once per version). Decides nothing
 * but the signature; verification is local, with public keys only.
 */
import { createHash, createPublicKey, verify, type KeyObject } from 'node:crypto';
import type { TokenCredential } from '@azure/core-auth';
import { CryptographyClient, KeyClient, parseKeyVaultKeyIdentifier, type KeyClientOptions, type KeyVaultKey } from '@azure/keyvault-keys';
import { ConfigError } from '../../domain/errors';
import type { HeadSigner } from '../../ports/audit-head-log';
import { KEY_VAULT_API_VERSION } from './key-vault-clients';
import { isNotFound } from './key-vault-errors';

/** The signing key's name in the platform vault (infra/key-vault.ts creates it). */
export const AUDIT_HEAD_KEY_NAME = 'audit-head-signing';

/** The SDK clients for a vault's keys: the key client, and a cryptography client per key version. */
export interface KeyVaultKeyClients {
  keys: KeyClient;
  cryptography(key: KeyVaultKey): CryptographyClient;
}

/** Pinned to the api-version the other Key Vault clients speak (key-vault-clients.ts says why). */
export function createKeyVaultKeyClients(vaultUrl: string, credential: TokenCredential, options: Omit<KeyClientOptions, 'serviceVersion'> = {}): KeyVaultKeyClients {
  const pinned = { ...options, serviceVersion: KEY_VAULT_API_VERSION } as KeyClientOptions;
  return {
    keys: new KeyClient(vaultUrl, credential, pinned),
    cryptography: (key) => new CryptographyClient(key, credential, pinned),
  };
}

export class KeyVaultHeadSigner implements HeadSigner {
  readonly algorithm = 'ES256' as const;
  readonly keyId: string;
  readonly publicKeyPem: string;
  /** Public keys by versioned key id: the current one, and older ones as heads name them. */
  private readonly publicKeys = new Map<string, Promise<KeyObject | null>>();

  private constructor(
    private readonly clients: KeyVaultKeyClients,
    key: KeyVaultKey,
    private readonly signer: CryptographyClient,
  ) {
    this.keyId = key.id!;
    const publicKey = publicKeyOf(key);
    this.publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    this.publicKeys.set(this.keyId, Promise.resolve(publicKey));
  }

  /** The signer of the key's current version; a missing or unusable key is a configuration error. */
  static async open(clients: KeyVaultKeyClients, keyName = AUDIT_HEAD_KEY_NAME): Promise<KeyVaultHeadSigner> {
    let key: KeyVaultKey;
    try {
      key = await clients.keys.getKey(keyName);
    } catch (err) {
      const status = (err as { statusCode?: number }).statusCode;
      throw new ConfigError('Key Vault', [
        status === 404
          ? `the audit head signing key "${keyName}" does not exist: the Pulumi program (infra/) creates it`
          : `the audit head signing key "${keyName}" cannot be read (${status ?? (err as Error).message}): grant the Function App's identity Key Vault Crypto User on it`,
      ]);
    }
    if (key.keyType !== 'EC' && key.keyType !== 'EC-HSM') throw new ConfigError('Key Vault', [`the audit head signing key "${keyName}" is ${key.keyType}, not an EC P-256 key`]);
    if (key.key?.crv !== 'P-256') throw new ConfigError('Key Vault', [`the audit head signing key "${keyName}" is on curve ${key.key?.crv}, not P-256 (ES256)`]);
    if (!key.keyOperations?.includes('sign')) throw new ConfigError('Key Vault', [`the audit head signing key "${keyName}" does not permit the sign operation`]);
    return new KeyVaultHeadSigner(clients, key, clients.cryptography(key));
  }

  async sign(payload: Buffer): Promise<string> {
    // ES256 signs the SHA-256 digest; Key Vault returns r‖s (64 bytes), the JWS form.
    const digest = createHash('sha256').update(payload).digest();
    const { result } = await this.signer.sign('ES256', digest);
    return Buffer.from(result).toString('base64');
  }

  async verify(payload: Buffer, signature: string, keyId: string): Promise<boolean> {
    const publicKey = await this.publicKeyFor(keyId);
    if (!publicKey) return false;
    try {
      return verify('sha256', payload, { key: publicKey, dsaEncoding: 'ieee-p1363' }, Buffer.from(signature, 'base64'));
    } catch {
      return false;
    }
  }

  /**
   * The public key of a version of this very key (same vault, same name): heads signed before a
   * rotation name an older version. Any other key id is not ours: null, so the head does not verify.
   */
  private publicKeyFor(keyId: string): Promise<KeyObject | null> {
    let found = this.publicKeys.get(keyId);
    if (!found) {
      const ours = parseKeyVaultKeyIdentifier(this.keyId);
      let named: ReturnType<typeof parseKeyVaultKeyIdentifier> | null = null;
      try {
        named = parseKeyVaultKeyIdentifier(keyId);
      } catch {
        named = null;
      }
      found =
        named && named.vaultUrl === ours.vaultUrl && named.name === ours.name && named.version
          ? this.clients.keys.getKey(named.name, { version: named.version }).then(publicKeyOf, (err: unknown) => {
              // A version the vault does not have (deleted, or never ours): the head does not verify.
              if (isNotFound(err)) return null;
              this.publicKeys.delete(keyId); // a transient failure is not remembered
              throw err;
            })
          : Promise.resolve(null);
      this.publicKeys.set(keyId, found);
    }
    return found;
  }
}

/** The public key of a Key Vault EC key, from its JWK (the service never returns `d`). */
function publicKeyOf(key: KeyVaultKey): KeyObject {
  const jwk = key.key;
  if (!jwk?.x || !jwk.y || !jwk.crv) throw new ConfigError('Key Vault', [`key ${key.id} has no EC public key`]);
  return createPublicKey({ key: { kty: 'EC', crv: jwk.crv, x: Buffer.from(jwk.x).toString('base64url'), y: Buffer.from(jwk.y).toString('base64url') }, format: 'jwk' });
}
