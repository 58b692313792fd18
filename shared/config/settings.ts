/**
 * Process settings (environment / Functions app settings), read once and validated.
 * local.settings.sample.json holds exactly these keys (a test checks it).
 *
 * Two runtimes: `embedded` (the default: SQLite in the data directory, the embedded bus) and
 * `azure` (Cosmos DB, Service Bus, Key Vault, reached with the Function App's managed identity).
 * No Azure setting holds a secret: endpoints and names only. Service Bus is the one exception a
 * developer may use locally: `CERTOPS_SERVICE_BUS` may be a connection string (the emulator, the
 * test broker); in Azure the binding reads `CERTOPS_SERVICE_BUS__fullyQualifiedNamespace`.
 */
import { ConfigError } from '../domain/errors';

export const SETTING_KEYS = [
  'CERTOPS_RUNTIME',
  'CERTOPS_CONFIG',
  'CERTOPS_SWEEP_SCHEDULE',
  'CERTOPS_LOG_LEVEL',
  'CERTOPS_MASTER_KEY',
  'CERTOPS_SERVICE_BUS',
  'CERTOPS_SERVICE_BUS__fullyQualifiedNamespace',
  'CERTOPS_COSMOS_ENDPOINT',
  'CERTOPS_COSMOS_DATABASE',
  'CERTOPS_KEY_VAULT_URL',
  'CERTOPS_CLIENT_APP_ID',
] as const;

/** The app setting prefix of the Service Bus trigger binding's `connection`. */
export const SERVICE_BUS_CONNECTION = 'CERTOPS_SERVICE_BUS';

export interface AzureSettings {
  cosmosEndpoint: string;
  cosmosDatabase: string;
  /** Identity-based (a namespace host) in Azure; a connection string only against a local emulator or broker. */
  serviceBus: { fullyQualifiedNamespace: string } | { connectionString: string };
  keyVaultUrl: string;
  /**
   * The MSP's multi-tenant app registration, used for calls into client tenants (GDAP, consent):
   * the managed identity signs its client assertion (workload identity federation), so no client
   * secret exists anywhere. Null when no client-tenant connector is used.
   */
  clientAppId: string | null;
}

export interface Settings {
  runtime: 'embedded' | 'azure';
  /** Path of the YAML/JSON configuration (tenants, endpoints, policy). */
  configFile: string;
  /** NCRONTAB override of the sweep timer (topology default: daily at 02:00 UTC). */
  sweepSchedule: string | null;
  logLevel: string;
  /** Name of the app setting (prefix) holding the Service Bus connection (Functions binding `connection`). */
  serviceBusConnectionSetting: string;
  /** Present when runtime is azure. */
  azure: AzureSettings | null;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const HTTPS_URL = /^https:\/\/[^\s/]+(\/.*)?$/;

export function readSettings(env: NodeJS.ProcessEnv): Settings {
  const errors: string[] = [];
  const runtime = env.CERTOPS_RUNTIME ?? 'embedded';
  if (runtime !== 'embedded' && runtime !== 'azure') errors.push('CERTOPS_RUNTIME: must be embedded or azure');
  const logLevel = env.CERTOPS_LOG_LEVEL ?? 'info';
  if (!LOG_LEVELS.includes(logLevel)) errors.push(`CERTOPS_LOG_LEVEL: must be one of ${LOG_LEVELS.join(', ')}`);
  const schedule = env.CERTOPS_SWEEP_SCHEDULE ?? null;
  if (schedule !== null && schedule.trim().split(/\s+/).length !== 6) errors.push('CERTOPS_SWEEP_SCHEDULE: must be an NCRONTAB expression with 6 fields');
  const key = env.CERTOPS_MASTER_KEY;
  if (key && Buffer.from(key, 'base64').length !== 32) errors.push('CERTOPS_MASTER_KEY: must be 32 bytes, base64-encoded');
  const azure = runtime === 'azure' ? readAzure(env, errors) : null;
  if (errors.length > 0) throw new ConfigError('settings', errors);
  return {
    runtime: runtime as Settings['runtime'],
    configFile: env.CERTOPS_CONFIG ?? 'certops.yaml',
    sweepSchedule: schedule,
    logLevel,
    serviceBusConnectionSetting: SERVICE_BUS_CONNECTION,
    azure,
  };
}

function readAzure(env: NodeJS.ProcessEnv, errors: string[]): AzureSettings | null {
  const required = (name: (typeof SETTING_KEYS)[number], pattern: RegExp, what: string): string => {
    const value = env[name]?.trim() ?? '';
    if (!value) errors.push(`${name}: is required when CERTOPS_RUNTIME is azure (${what})`);
    else if (!pattern.test(value)) errors.push(`${name}: must be ${what}`);
    return value;
  };
  const cosmosEndpoint = required('CERTOPS_COSMOS_ENDPOINT', HTTPS_URL, 'the https URL of the Cosmos DB account');
  const keyVaultUrl = required('CERTOPS_KEY_VAULT_URL', HTTPS_URL, 'the https URL of the Key Vault');
  const namespace = env.CERTOPS_SERVICE_BUS__fullyQualifiedNamespace?.trim();
  const connectionString = env.CERTOPS_SERVICE_BUS?.trim();
  let serviceBus: AzureSettings['serviceBus'] | null = null;
  if (namespace) serviceBus = { fullyQualifiedNamespace: namespace };
  else if (connectionString) {
    if (!/UseDevelopmentEmulator=true/i.test(connectionString)) {
      errors.push('CERTOPS_SERVICE_BUS: a connection string (it holds a key) is only accepted for a local emulator (UseDevelopmentEmulator=true); in Azure set CERTOPS_SERVICE_BUS__fullyQualifiedNamespace');
    }
    serviceBus = { connectionString };
  } else {
    errors.push('CERTOPS_SERVICE_BUS__fullyQualifiedNamespace: is required when CERTOPS_RUNTIME is azure (the namespace host, e.g. certops-x.servicebus.windows.net)');
  }
  if (!serviceBus) return null;
  return {
    cosmosEndpoint,
    cosmosDatabase: env.CERTOPS_COSMOS_DATABASE?.trim() || 'certops',
    serviceBus,
    keyVaultUrl,
    clientAppId: env.CERTOPS_CLIENT_APP_ID?.trim() || null,
  };
}
