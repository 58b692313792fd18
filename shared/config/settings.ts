/**
 * Process settings (environment / Functions app settings), read once and validated.
 * local.settings.sample.json holds exactly these keys (a test checks it).
 */
import { ConfigError } from '../domain/errors';

export const SETTING_KEYS = [
  'CERTOPS_CONFIG',
  'CERTOPS_SWEEP_SCHEDULE',
  'CERTOPS_LOG_LEVEL',
  'CERTOPS_MASTER_KEY',
  'CERTOPS_SERVICE_BUS_CONNECTION',
] as const;

export interface Settings {
  /** Path of the YAML/JSON configuration (tenants, endpoints, policy). */
  configFile: string;
  /** NCRONTAB override of the sweep timer (topology default: daily at 02:00 UTC). */
  sweepSchedule: string | null;
  logLevel: string;
  /** Name of the app setting holding the Service Bus connection (Functions binding `connection`). */
  serviceBusConnectionSetting: string;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export function readSettings(env: NodeJS.ProcessEnv): Settings {
  const errors: string[] = [];
  const logLevel = env.CERTOPS_LOG_LEVEL ?? 'info';
  if (!LOG_LEVELS.includes(logLevel)) errors.push(`CERTOPS_LOG_LEVEL: must be one of ${LOG_LEVELS.join(', ')}`);
  const schedule = env.CERTOPS_SWEEP_SCHEDULE ?? null;
  if (schedule !== null && schedule.trim().split(/\s+/).length !== 6) errors.push('CERTOPS_SWEEP_SCHEDULE: must be an NCRONTAB expression with 6 fields');
  const key = env.CERTOPS_MASTER_KEY;
  if (key && Buffer.from(key, 'base64').length !== 32) errors.push('CERTOPS_MASTER_KEY: must be 32 bytes, base64-encoded');
  if (errors.length > 0) throw new ConfigError('settings', errors);
  return {
    configFile: env.CERTOPS_CONFIG ?? 'certops.yaml',
    sweepSchedule: schedule,
    logLevel,
    serviceBusConnectionSetting: 'CERTOPS_SERVICE_BUS_CONNECTION',
  };
}
