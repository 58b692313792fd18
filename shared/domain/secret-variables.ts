/**
 * The environment variables that hold a secret of certops or of the identity it runs as. A child
 * process certops starts never receives them (adapters/local/child-environment.ts), and the
 * configuration may not name them among the variables a reload command receives
 * (config/load-config.ts).
 *
 * - CERTOPS_MASTER_KEY: the key store's master key (adapters/local/sqlite-key-store.ts);
 * - CERTOPS_SERVICE_BUS: may be a connection string with a shared access key (config/settings.ts);
 * - AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PASSWORD, AZURE_PASSWORD: the credentials
 *   @azure/identity's EnvironmentCredential reads;
 * - IDENTITY_HEADER, MSI_SECRET: with them any process can get the managed identity's tokens from
 *   the App Service / Functions identity endpoint;
 * - AzureWebJobsStorage: the Functions host's storage connection string (an account key).
 */

export const CERTOPS_SECRET_VARIABLES: readonly string[] = [
  'CERTOPS_MASTER_KEY',
  'CERTOPS_SERVICE_BUS',
  'AZURE_CLIENT_SECRET',
  'AZURE_CLIENT_CERTIFICATE_PASSWORD',
  'AZURE_PASSWORD',
  'IDENTITY_HEADER',
  'MSI_SECRET',
  'AzureWebJobsStorage',
];

/** The variables the configuration itself names as holding secrets (webhook secret, Teams URL, ACME EAB key). */
export function configuredSecretVariables(config: { notifications?: { webhook?: { secretEnv?: unknown }; teams?: { urlEnv?: unknown } }; tenants?: Array<{ acme?: { eab?: { hmacKeyEnv?: unknown } } }> }): string[] {
  const names = [config.notifications?.webhook?.secretEnv, config.notifications?.teams?.urlEnv, ...(config.tenants ?? []).map((t) => t.acme?.eab?.hmacKeyEnv)];
  return names.filter((n): n is string => typeof n === 'string');
}
