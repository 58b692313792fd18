/**
 * Signs audit chain heads with Ed25519 (RFC 8032), a key derived (HKDF-SHA256, its own info
 * string) from the installation's secret: the embedded runtime's master key. Acceptable on one
 * machine because the heads no longer live in the database beside the records (the head log is
 * its own file) and the latest head leaves the machine (webhook, digest, OSCAL export), where a
 * copy of the public key checks it without the secret. On Azure the heads are signed in Key Vault
 * instead (adapters/azure/key-vault-head-signer.ts).
 */
import { createHash, createPrivateKey, createPublicKey, hkdfSync, sign, verify, type KeyObject } from 'node:crypto';
import type { HeadSigner } from '../../ports/audit-head-log';

export type { HeadSigner } from '../../ports/audit-head-log';

/** PKCS#8 prefix of an Ed25519 private key (RFC 8410 §7): the 32-byte seed follows. */
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

export class Ed25519HeadSigner implements HeadSigner {
  readonly keyId: string;
  readonly algorithm = 'Ed25519' as const;
  readonly publicKeyPem: string;
  private readonly privateKey: KeyObject;
  private readonly publicKey: KeyObject;

  constructor(seed: Buffer) {
    if (seed.length !== 32) throw new Error('an Ed25519 seed is 32 bytes');
    this.privateKey = createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
    this.publicKey = createPublicKey(this.privateKey);
    this.publicKeyPem = this.publicKey.export({ type: 'spki', format: 'pem' }).toString();
    this.keyId = `ed25519:${createHash('sha256').update(this.publicKey.export({ type: 'spki', format: 'der' })).digest('hex').slice(0, 16)}`;
  }

  async sign(payload: Buffer): Promise<string> {
    return sign(null, payload, this.privateKey).toString('base64');
  }

  async verify(payload: Buffer, signature: string, keyId: string): Promise<boolean> {
    // One key per installation: a head naming another key was not signed here.
    if (keyId !== this.keyId) return false;
    try {
      return verify(null, payload, this.publicKey, Buffer.from(signature, 'base64'));
    } catch {
      return false;
    }
  }
}

/** The head signer of an installation, from its secret (never the secret itself). */
export function headSignerFrom(secret: Buffer): Ed25519HeadSigner {
  return new Ed25519HeadSigner(Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), 'certops audit head signing key', 32)));
}
