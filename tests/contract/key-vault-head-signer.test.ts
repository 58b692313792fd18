/**
 * The Azure runtime's audit head signer, with the real @azure/keyvault-keys SDK against the Key
 * Vault stub (keys endpoints of the 2025-07-01 API, the same 401 challenge as the certificates
 * part): heads are signed in the vault (ES256 over the SHA-256 digest) and verified locally with
 * the public key; the private key never crosses the wire; a head signed before a key rotation still
 * verifies; a head of another key, or an altered one, does not.
 */
import { createHash, verify } from 'node:crypto';
import { KeyVaultHeadSigner, createKeyVaultKeyClients, AUDIT_HEAD_KEY_NAME, type KeyVaultKeyClients } from '../../shared/adapters/azure/key-vault-head-signer';
import { headSignerFrom } from '../../shared/adapters/local/ed25519-head-signer';
import { ConfigError } from '../../shared/domain/errors';
import { HEAD_LOG_GENESIS, signedHeadPayload, type UnsignedHead } from '../../shared/domain/signed-head';
import { FakeCredential } from '../support/fake-credential';
import { startKeyVaultStub, type KeyVaultStub } from '../support/key-vault-stub';

let vault: KeyVaultStub;
let clients: KeyVaultKeyClients;
beforeAll(async () => {
  vault = await startKeyVaultStub();
  clients = createKeyVaultKeyClients(vault.url, new FakeCredential(), vault.clientOptions({ maxRetries: 0 }));
});
afterAll(async () => vault?.close());

const aHead = (keyId: string): UnsignedHead => ({ index: 1, prev: HEAD_LOG_GENESIS, tenantId: 'contoso', seq: 42, hash: 'ab'.repeat(32), signedAt: '2026-03-01T00:05:00.000Z', keyId, algorithm: 'ES256' });

async function aSigningKey(name: string): Promise<void> {
  await clients.keys.createEcKey(name, { curve: 'P-256', keyOps: ['sign', 'verify'] });
}

it('When a head is signed, then Key Vault signs its SHA-256 digest with ES256 and anyone with the public key can verify it', async () => {
  await aSigningKey(AUDIT_HEAD_KEY_NAME);
  const signer = await KeyVaultHeadSigner.open(clients);
  const payload = signedHeadPayload(aHead(signer.keyId));

  const signature = await signer.sign(payload);

  expect(signer.keyId).toBe(vault.keyVersions(AUDIT_HEAD_KEY_NAME).at(-1)!.kid);
  expect(Buffer.from(signature, 'base64')).toHaveLength(64); // r‖s
  expect(verify('sha256', payload, { key: signer.publicKeyPem, dsaEncoding: 'ieee-p1363' }, Buffer.from(signature, 'base64'))).toBe(true);
  expect(await signer.verify(payload, signature, signer.keyId)).toBe(true);
  expect(await signer.verify(Buffer.concat([payload, Buffer.from(' ')]), signature, signer.keyId)).toBe(false);
});

it('When it signs, then only the digest goes to the vault and no answer carries the private key', async () => {
  await aSigningKey('audit-head-wire');
  const before = vault.requests.length;
  const signer = await KeyVaultHeadSigner.open(clients, 'audit-head-wire');
  const payload = signedHeadPayload(aHead(signer.keyId));
  await signer.sign(payload);

  const mine = vault.requests.slice(before);
  const signs = mine.filter((r) => r.path.endsWith('/sign') && r.status === 200);
  expect(signs).toHaveLength(1);
  expect(signs[0].body).toEqual({ alg: 'ES256', value: createHash('sha256').update(payload).digest('base64url') });
  // The SDK was challenged first (401 with the Entra authority), then sent its token.
  expect(vault.requests.some((r) => !r.authorized && r.status === 401)).toBe(true);
  const bundle = await clients.keys.getKey('audit-head-wire');
  expect(bundle.key?.d).toBeUndefined();
});

it('When the key was rotated, then heads signed with the older version still verify, and the signer uses the version it opened', async () => {
  await aSigningKey('audit-head-rotated');
  const before = await KeyVaultHeadSigner.open(clients, 'audit-head-rotated');
  const oldPayload = signedHeadPayload(aHead(before.keyId));
  const oldSignature = await before.sign(oldPayload);

  await aSigningKey('audit-head-rotated'); // a new version
  const after = await KeyVaultHeadSigner.open(clients, 'audit-head-rotated');

  expect(after.keyId).not.toBe(before.keyId);
  expect(await after.verify(oldPayload, oldSignature, before.keyId)).toBe(true);
  expect(await after.verify(oldPayload, oldSignature, after.keyId)).toBe(false);
});

it('When a head names a key that is not this vault key (another key, or the embedded Ed25519 key), then it does not verify', async () => {
  await aSigningKey(AUDIT_HEAD_KEY_NAME);
  await aSigningKey('some-other-key');
  const signer = await KeyVaultHeadSigner.open(clients);
  const other = await KeyVaultHeadSigner.open(clients, 'some-other-key');
  const payload = signedHeadPayload(aHead(other.keyId));
  expect(await signer.verify(payload, await other.sign(payload), other.keyId)).toBe(false);

  const embedded = headSignerFrom(Buffer.alloc(32, 3));
  const edPayload = signedHeadPayload({ ...aHead(embedded.keyId), algorithm: 'Ed25519' });
  expect(await signer.verify(edPayload, await embedded.sign(edPayload), embedded.keyId)).toBe(false);
});

it('When the signing key does not exist, then opening the signer says the Pulumi program creates it', async () => {
  await expect(KeyVaultHeadSigner.open(clients, 'no-such-key')).rejects.toThrow(ConfigError);
  await expect(KeyVaultHeadSigner.open(clients, 'no-such-key')).rejects.toThrow(/does not exist: the Pulumi program/);
});

it('When a head names a version of this key that the vault does not have (deleted, or made up), then it does not verify rather than failing the whole check', async () => {
  await aSigningKey('audit-head-gone');
  const signer = await KeyVaultHeadSigner.open(clients, 'audit-head-gone');
  const payload = signedHeadPayload(aHead(signer.keyId));
  const signature = await signer.sign(payload);
  const missingVersion = signer.keyId.replace(/[^/]+$/, '0'.repeat(32));
  expect(await signer.verify(payload, signature, missingVersion)).toBe(false);
});
