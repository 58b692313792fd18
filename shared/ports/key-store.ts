/**
 * KeyStore: private keys (the local CA's key, later ACME account keys). Encrypted at rest by the
 * implementation (AES-256-GCM under a key-encryption key in the embedded runtime; Key Vault in
 * Azure). Values never appear in logs or errors.
 *
 * Contract: `put` overwrites; `get` returns null when absent and throws when the stored value
 * cannot be decrypted (wrong key-encryption key: an operator error, never silently ignored).
 */
export interface KeyStore {
  put(tenantId: string, name: string, secretPem: string): Promise<void>;
  get(tenantId: string, name: string): Promise<string | null>;
  /** Forgets a key (an order's CSR key once its certificate is downloaded); absent is fine. */
  delete(tenantId: string, name: string): Promise<void>;
}
