/**
 * Builds the two Key Vault SDK clients the adapters take, pinned to one REST api-version.
 *
 * Why pin: @azure/keyvault-certificates 4.10 speaks 2025-07-01 while @azure/keyvault-secrets 4.12
 * defaults to 2026-04-01; certops is tested against 2025-07-01 (the recorded traffic and the
 * swagger in the reference set), so both clients say that version.
 *
 * The credential is injected (a managed identity in Azure, a fake in tests): never
 * DefaultAzureCredential here, whose probing reaches outside the process.
 */
import type { TokenCredential } from '@azure/core-auth';
import { CertificateClient, type CertificateClientOptions } from '@azure/keyvault-certificates';
import { SecretClient, type SecretClientOptions } from '@azure/keyvault-secrets';

export const KEY_VAULT_API_VERSION = '2025-07-01';

export interface KeyVaultClients {
  certificates: CertificateClient;
  secrets: SecretClient;
}

/** Options common to both clients (pipeline policies, retry options, challenge verification). */
export type KeyVaultClientOptions = Omit<CertificateClientOptions & SecretClientOptions, 'serviceVersion'>;

export function createKeyVaultClients(vaultUrl: string, credential: TokenCredential, options: KeyVaultClientOptions = {}): KeyVaultClients {
  return {
    certificates: new CertificateClient(vaultUrl, credential, { ...options, serviceVersion: KEY_VAULT_API_VERSION }),
    secrets: new SecretClient(vaultUrl, credential, { ...options, serviceVersion: KEY_VAULT_API_VERSION }),
  };
}
