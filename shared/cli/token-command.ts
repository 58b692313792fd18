/**
 * `certops token`: mints a bearer token for the local HTTP API, signed by the data directory's
 * local key (shared/api/auth.ts). For one machine only: Azure deployments take Entra ID tokens.
 * Prints the token alone on stdout so it can be captured (`TOKEN=$(certops token …)`); it is a
 * credential, so nothing else (no log line) ever carries it.
 */
import { parseArgs } from 'node:util';
import { loadOrCreateLocalSigningKey, mintLocalToken, MAX_LOCAL_TOKEN_TTL_SEC, MSP_ADMIN_ROLE, technicianRole, TENANT_ID_PATTERN } from '../api/auth';
import type { Clock } from '../domain/clock';
import { errorMessage } from '../domain/errors';

export const TOKEN_USAGE = `usage:
  certops token --sub SUBJECT [--name NAME] (--admin | --tenant T [--tenant T2 ...]) [--ttl 1h] [--config FILE]
                                              print a token for the local API (ttl: 30s, 15m, 8h, 7d; at most 7d)`;

const DEFAULT_TTL = '1h';
const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** Parses `90s`, `15m`, `8h`, `7d` to seconds; null when malformed. */
export function parseTtl(text: string): number | null {
  const match = /^(\d{1,7})([smhd])$/.exec(text.trim());
  return match ? Number(match[1]) * UNIT_SECONDS[match[2]] : null;
}

/**
 * Runs `certops token` with the arguments after `token`. Returns the exit code: 0 with the token
 * printed, 2 on a usage error (the reason and the usage printed instead). `--config` is accepted
 * but read by the caller, which resolves `dataDir` from it (the key lives beside the database).
 */
export async function tokenCommand(argv: string[], dataDir: string, out: NodeJS.WritableStream, options: { clock?: Clock } = {}): Promise<number> {
  const print = (text: string) => out.write(`${text}\n`);
  const usageError = (why: string) => {
    print(`certops token: ${why}\n${TOKEN_USAGE}`);
    return 2;
  };
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      allowPositionals: false,
      options: {
        sub: { type: 'string' },
        name: { type: 'string' },
        admin: { type: 'boolean', default: false },
        tenant: { type: 'string', multiple: true },
        ttl: { type: 'string', default: DEFAULT_TTL },
        help: { type: 'boolean', short: 'h', default: false },
        config: { type: 'string' },
      },
    }));
  } catch (err) {
    return usageError(errorMessage(err));
  }
  if (values.help) {
    print(TOKEN_USAGE);
    return 0;
  }
  const tenants = values.tenant ?? [];
  if (!values.sub || values.sub.trim() === '') return usageError('--sub is required');
  if (values.admin === (tenants.length > 0)) return usageError('give either --admin or at least one --tenant');
  const invalid = tenants.filter((t) => !TENANT_ID_PATTERN.test(t));
  if (invalid.length > 0) return usageError(`not tenant ids: ${invalid.join(', ')}`);
  const ttlSeconds = parseTtl(values.ttl);
  if (ttlSeconds === null || ttlSeconds === 0 || ttlSeconds > MAX_LOCAL_TOKEN_TTL_SEC) return usageError(`--ttl ${values.ttl} is not a duration from 1s to 7d`);

  const { privateKey } = loadOrCreateLocalSigningKey(dataDir);
  const roles = values.admin ? [MSP_ADMIN_ROLE] : [...new Set(tenants)].map(technicianRole);
  print(await mintLocalToken(privateKey, { subject: values.sub, name: values.name, roles, ttlSeconds, clock: options.clock }));
  return 0;
}
