/**
 * Reads the certops configuration once: parse (YAML or JSON), validate against the one schema
 * (config-schema.ts), check what a schema cannot express, then apply defaults and resolve relative
 * paths against the configuration file's directory. Any problem throws a ConfigError listing EVERY
 * error with its path (CONVENTIONS §7), so an operator fixes the file in one pass.
 *
 * Environment: only the variable named by `notifications.webhook.secretEnv` is consulted, and only
 * to check that it is set, so a missing secret fails at start-up instead of at the first webhook.
 * Fixed process settings (CERTOPS_*) belong to settings.ts.
 */
import { matchesHostname } from '../domain/hostname';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import * as yaml from 'js-yaml';
import { Validator, type ValidationError } from 'jsonschema';
import { ConfigError, errorMessage } from '../domain/errors';
import { CONFIG_SCHEMA } from './config-schema';
import type {
  CertopsConfig,
  DiscoveryOptions,
  ManagedCertificateConfig,
  NotificationOptions,
  TenantConfig,
  AcmeSettings,
  DeploymentTarget,
  DeploymentTargetType,
  EndpointConfig,
} from './model';
import { SELF_VERIFYING_TARGET_TYPES } from './model';
import { CERTOPS_SECRET_VARIABLES, configuredSecretVariables } from '../domain/secret-variables';
import { endpointRef } from '../pipeline/endpoints';
import { validateExclusion, validateTimeZone } from '../domain/notification-policy';

export const DEFAULT_DATA_DIR = '.certops';
/** 64 concurrent handshakes keep one Node process well under its ~1,000 handshakes/s ceiling. */
export const DEFAULT_DISCOVERY: DiscoveryOptions = {
  concurrency: 64,
  connectTimeoutMs: 3000,
  handshakeTimeoutMs: 5000,
};
export const DEFAULT_NOTIFICATIONS: NotificationOptions = { console: true };
/** NCRONTAB (six fields, seconds first): every day at 02:00, a quiet hour for most MSP clients. */
export const DEFAULT_SWEEP_SCHEDULE = '0 0 2 * * *';

/** The file as written: what the schema validated, before defaults. */
type ConfigFile = Omit<CertopsConfig, 'dataDir' | 'discovery' | 'notifications' | 'sweepSchedule'> & {
  dataDir?: string;
  discovery?: Partial<DiscoveryOptions>;
  notifications?: Partial<NotificationOptions>;
  sweepSchedule?: string;
};

/**
 * Load, validate and complete the configuration at `configPath`.
 * @throws ConfigError (source = the path) when the file cannot be read or parsed, or is invalid.
 */
export function loadConfig(configPath: string): CertopsConfig {
  let text: string;
  try {
    text = readFileSync(configPath, 'utf8');
  } catch (err) {
    // Not errorMessage(): under jest, fs errors come from another realm and fail `instanceof Error`.
    const why = (err as NodeJS.ErrnoException | undefined)?.message ?? String(err);
    throw new ConfigError(configPath, [`cannot read the configuration file: ${why}; check the path`]);
  }
  return parseConfig(text, configPath, path.dirname(path.resolve(configPath)));
}

/**
 * Parse and validate configuration text; `source` names it in errors, `baseDir` anchors relative
 * paths. Exposed for tests; production code calls loadConfig.
 * @throws ConfigError listing every problem found.
 */
export function parseConfig(
  text: string,
  source: string,
  baseDir: string,
): CertopsConfig {
  let raw: unknown;
  try {
    // CORE_SCHEMA: YAML 1.2 core types only, so `2026-01-01` stays a string, not a Date.
    raw = yaml.load(text, { filename: source, schema: yaml.CORE_SCHEMA });
  } catch (err) {
    const where = err instanceof yaml.YAMLException ? ` at line ${err.mark.line + 1}, column ${err.mark.column + 1}` : '';
    const why = err instanceof yaml.YAMLException ? err.reason : errorMessage(err);
    throw new ConfigError(source, [`cannot parse the file${where}: ${why}`]);
  }
  if (raw === undefined || raw === null) {
    throw new ConfigError(source, ['the file is empty; it must hold an object with at least `tenants`']);
  }

  const result = new Validator().validate(raw, CONFIG_SCHEMA, { nestedErrors: false });
  // A target's `allOf`/`if` wrapper fails together with the field error inside it: report the field.
  const errors = [...result.errors.filter((e) => e.name !== 'allOf').map(describeSchemaError), ...semanticErrors(raw)];
  if (errors.length > 0) throw new ConfigError(source, [...new Set(errors)]);
  return withDefaults(raw as ConfigFile, path.resolve(baseDir));
}

function withDefaults(file: ConfigFile, baseDir: string): CertopsConfig {
  const resolve = (p: string) => path.resolve(baseDir, p);
  const notifications = { ...DEFAULT_NOTIFICATIONS, ...file.notifications };
  if (notifications.outboxFile) notifications.outboxFile = resolve(notifications.outboxFile);
  return {
    dataDir: resolve(file.dataDir ?? DEFAULT_DATA_DIR),
    discovery: { ...DEFAULT_DISCOVERY, ...file.discovery },
    notifications,
    ...(file.hosts ? { hosts: file.hosts } : {}),
    sweepSchedule: file.sweepSchedule?.trim() ?? DEFAULT_SWEEP_SCHEDULE,
    tenants: file.tenants.map((tenant) => resolveTenantPaths(tenant, resolve)),
  };
}

function resolveTenantPaths(tenant: TenantConfig, resolve: (p: string) => string): TenantConfig {
  const target = (t: DeploymentTarget): DeploymentTarget =>
    t.type !== 'files'
      ? t
      : {
          ...t,
          certFile: resolve(t.certFile),
          keyFile: resolve(t.keyFile),
          ...(t.chainFile ? { chainFile: resolve(t.chainFile) } : {}),
          // reload.command stays as written: argv[0] may be a name looked up on PATH.
        };
  const managed = (m: ManagedCertificateConfig): ManagedCertificateConfig => ({
    ...m,
    ...(m.target ? { target: target(m.target) } : {}),
    ...(m.targets ? { targets: m.targets.map(target) } : {}),
  });
  return {
    ...tenant,
    ...(tenant.trustedCaFiles ? { trustedCaFiles: tenant.trustedCaFiles.map(resolve) } : {}),
    ...(tenant.acme ? { acme: resolveAcmePaths(tenant.acme, resolve) } : {}),
    ...(tenant.managedCertificates ? { managedCertificates: tenant.managedCertificates.map(managed) } : {}),
  };
}

function resolveAcmePaths(acme: AcmeSettings, resolve: (p: string) => string): AcmeSettings {
  return {
    ...acme,
    ...(acme.directoryCaFile ? { directoryCaFile: resolve(acme.directoryCaFile) } : {}),
    ...(acme.http01 && 'webroot' in acme.http01 ? { http01: { webroot: resolve(acme.http01.webroot) } } : {}),
  };
}

/**
 * Checks across values. They run on the raw document, even when the schema failed, so that every
 * error is reported at once; anything of an unexpected shape is skipped (the schema reported it).
 */
function semanticErrors(raw: unknown): string[] {
  const errors: string[] = [];
  const root = asRecord(raw);
  const tenants = Array.isArray(root?.tenants) ? root.tenants : [];
  const tenantIndexById = new Map<string, number>();
  const secretNames = new Set([...CERTOPS_SECRET_VARIABLES, ...configuredSecretVariables((root ?? {}) as Parameters<typeof configuredSecretVariables>[0])]);

  tenants.forEach((t, i) => {
    const tenant = asRecord(t);
    if (!tenant) return;
    const id = tenant.id;
    if (typeof id === 'string') {
      const first = tenantIndexById.get(id);
      if (first !== undefined) {
        errors.push(`tenants[${i}].id: "${id}" is already the id of tenants[${first}]; tenant ids must be unique`);
      } else {
        tenantIndexById.set(id, i);
      }
    }

    const managedIndexById = new Map<string, number>();
    const managed = Array.isArray(tenant.managedCertificates) ? tenant.managedCertificates : [];
    const acme = asRecord(tenant.acme);
    if (acme?.challenge === 'http-01' && !asRecord(acme.http01)) errors.push(`tenants[${i}].acme.http01: is required when the challenge is http-01 (the port certops answers the CA on)`);
    if (acme?.challenge === 'dns-01' && !asRecord(acme.dns01)) errors.push(`tenants[${i}].acme.dns01: is required when the challenge is dns-01 (the DNS provider)`);
    managed.forEach((m, j) => {
      if (asRecord(m)?.issuer === 'acme' && !acme) {
        errors.push(`tenants[${i}].managedCertificates[${j}].issuer: "acme" needs the tenant's acme settings (directoryUrl, challenge); add tenants[${i}].acme`);
      }
      const mid = asRecord(m)?.id;
      if (typeof mid !== 'string') return;
      const first = managedIndexById.get(mid);
      if (first !== undefined) {
        errors.push(
          `tenants[${i}].managedCertificates[${j}].id: "${mid}" is already the id of managedCertificates[${first}] in this tenant; ids must be unique per tenant`,
        );
      } else {
        managedIndexById.set(mid, j);
      }
    });

    const endpoints = Array.isArray(tenant.endpoints) ? tenant.endpoints : [];
    endpoints.forEach((e, j) => {
      const ref = asRecord(e)?.managed;
      if (typeof ref === 'string' && managedIndexById.has(ref)) {
        // A certificate that does not name its endpoint would be reissued, still mismatched, on every sweep.
        const m = asRecord(managed[managedIndexById.get(ref)!]);
        const name = asRecord(e)?.sni ?? asRecord(e)?.host;
        const dnsNames = Array.isArray(m?.dnsNames) ? (m!.dnsNames as unknown[]).filter((n): n is string => typeof n === 'string') : [];
        const ipAddresses = Array.isArray(m?.ipAddresses) ? (m!.ipAddresses as unknown[]).filter((n): n is string => typeof n === 'string') : [];
        if (typeof name === 'string' && !matchesHostname({ dnsNames, ipAddresses, commonName: null }, name)) {
          errors.push(
            `tenants[${i}].endpoints[${j}]: "${name}" is not covered by the names of managed certificate "${ref}" (${[...dnsNames, ...ipAddresses].join(', ') || 'none'}); add it there or remove "managed"`,
          );
        }
        return;
      }
      if (typeof ref !== 'string') return;
      const known = [...managedIndexById.keys()];
      errors.push(
        `tenants[${i}].endpoints[${j}].managed: "${ref}" is not the id of a managed certificate of this tenant` +
          (known.length ? ` (known: ${known.join(', ')})` : ' (it has none)'),
      );
    });
    errors.push(...placementErrors(`tenants[${i}]`, managed, endpoints));
    errors.push(...unverifiableErrors(`tenants[${i}]`, managed, endpoints));
    errors.push(...reloadEnvErrors(`tenants[${i}]`, managed, secretNames));
    errors.push(...notifyPolicyErrors(`tenants[${i}].policy.notify`, asRecord(asRecord(tenant.policy)?.notify)));
  });

  return errors;
}

/** The time zone of quiet hours and the exclusion patterns are checked now, not at the first notification. */
function notifyPolicyErrors(at: string, notify: Record<string, unknown> | undefined): string[] {
  const errors: string[] = [];
  const tz = asRecord(notify?.quietHours)?.timeZone;
  if (typeof tz === 'string') {
    try {
      validateTimeZone(tz);
    } catch (err) {
      errors.push(`${at}.quietHours.timeZone: ${errorMessage(err)}`);
    }
  }
  const exclude = Array.isArray(notify?.exclude) ? notify!.exclude : [];
  exclude.forEach((entry, k) => {
    if (typeof entry !== 'string') return;
    try {
      validateExclusion(entry);
    } catch (err) {
      errors.push(`${at}.exclude[${k}]: ${errorMessage(err)}`);
    }
  });
  return errors;
}

/** A reload command never receives a secret of certops (defect 4), even when the configuration names one. */
function reloadEnvErrors(at: string, managed: unknown[], secretNames: ReadonlySet<string>): string[] {
  const errors: string[] = [];
  managed.forEach((m, j) => {
    const record = asRecord(m);
    const { targets, where } = rawTargets(record);
    targets.forEach((t, k) => {
      const env = asRecord(asRecord(t)?.reload)?.env;
      const named = Array.isArray(env) ? env.filter((n): n is string => typeof n === 'string' && secretNames.has(n)) : [];
      if (named.length > 0) {
        errors.push(`${at}.managedCertificates[${j}].${where(k)}.reload.env: ${named.join(', ')} ${named.length === 1 ? 'holds a secret' : 'hold secrets'} of certops, which a reload command never receives; give the command a credential of its own`);
      }
    });
  });
  return errors;
}

/**
 * A rotation commits only on proof that the new certificate is in place: a handshake with an
 * endpoint that serves it, or a target whose deployer reads its deployment back. A managed
 * certificate with neither would commit having verified nothing.
 */
function unverifiableErrors(at: string, managed: unknown[], endpoints: unknown[]): string[] {
  const errors: string[] = [];
  managed.forEach((m, j) => {
    const record = asRecord(m);
    if (typeof record?.id !== 'string') return;
    const { targets } = rawTargets(record);
    if (targets.length === 0) return; // the schema reports the missing target
    const served = endpoints.some((e) => asRecord(e)?.managed === record.id);
    const selfVerifying = targets.some((t) => SELF_VERIFYING_TARGET_TYPES.includes(asRecord(t)?.type as DeploymentTargetType));
    if (!served && !selfVerifying) {
      errors.push(
        `${at}.managedCertificates[${j}]: nothing can verify a rotation of "${record.id}": no endpoint says managed: ${record.id}, and none of its targets ` +
          `(${targets.map((t) => String(asRecord(t)?.type)).join(', ')}) proves itself (${SELF_VERIFYING_TARGET_TYPES.join(', ')}); add the endpoint that serves it`,
      );
    }
  });
  return errors;
}

/** `serves` names endpoints of the same certificate; one canary at most per certificate. */
function placementErrors(at: string, managed: unknown[], endpoints: unknown[]): string[] {
  const errors: string[] = [];
  managed.forEach((m, j) => {
    const record = asRecord(m);
    const { targets, where } = rawTargets(record);
    if (typeof record?.id !== 'string' || targets.length === 0) return;
    const served = new Set(
      endpoints
        .filter((e) => asRecord(e)?.managed === record.id && typeof asRecord(e)?.host === 'string' && typeof asRecord(e)?.port === 'number')
        .map((e) => endpointRef(e as EndpointConfig).endpointId),
    );
    const canaries = targets.filter((t) => asRecord(t)?.canary === true).length;
    if (canaries > 1) errors.push(`${at}.managedCertificates[${j}].targets: ${canaries} targets say canary: true; at most one may`);
    targets.forEach((t, k) => {
      const serves = asRecord(t)?.serves;
      if (!Array.isArray(serves)) return;
      for (const id of serves) {
        if (typeof id === 'string' && !served.has(id.toLowerCase())) {
          errors.push(
            `${at}.managedCertificates[${j}].${where(k)}.serves: "${id}" is not an endpoint of certificate "${record.id}" (its endpoints: ${[...served].join(', ') || 'none'})`,
          );
        }
      }
    });
  });
  return errors;
}

/** A raw managed certificate's targets (`targets`, or the one `target`) and how an error names the k-th. */
function rawTargets(managed: Record<string, unknown> | undefined): { targets: unknown[]; where: (k: number) => string } {
  if (Array.isArray(managed?.targets)) return { targets: managed.targets, where: (k) => `targets[${k}]` };
  return { targets: asRecord(managed?.target) ? [managed!.target] : [], where: () => 'target' };
}

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

/** "path: what is wrong", e.g. `tenants[1].endpoints[0].port: must be <= 65535`. */
function describeSchemaError(e: ValidationError): string {
  const schema = e.schema as { description?: string; properties?: Record<string, unknown> };
  const at = (p: (string | number)[]) => formatPath(p) || '(root)';
  switch (e.name) {
    case 'required':
      return `${at([...e.path, e.argument as string])}: is required`;
    case 'additionalProperties': {
      const known = Object.keys(schema.properties ?? {});
      const hint = known.length ? ` (known keys: ${known.join(', ')})` : '';
      return `${at([...e.path, e.argument as string])}: is not a known key${hint}`;
    }
    case 'type':
      return `${at(e.path)}: must be ${(e.argument as string[]).map(typeName).join(' or ')}`;
    case 'minimum':
      return `${at(e.path)}: must be >= ${e.argument}`;
    case 'maximum':
      return `${at(e.path)}: must be <= ${e.argument}`;
    case 'exclusiveMinimum':
      return `${at(e.path)}: must be > ${e.argument}`;
    case 'exclusiveMaximum':
      return `${at(e.path)}: must be < ${e.argument}`;
    case 'minLength':
      return `${at(e.path)}: must not be empty`;
    case 'minItems':
      return `${at(e.path)}: must have at least ${e.argument} item${e.argument === 1 ? '' : 's'}`;
    case 'enum':
      return `${at(e.path)}: must be one of ${(e.argument as unknown[]).join(', ')}`;
    case 'pattern':
      return `${at(e.path)}: must match ${e.argument}${schema.description ? ` (${schema.description})` : ''}`;
    case 'format':
    case 'anyOf':
      return `${at(e.path)}: must be ${schema.description ?? `a valid ${e.argument}`}`;
    case 'oneOf':
      return `${at(e.path)}: must have ${schema.description ?? 'exactly one of its alternatives'}`;
    default:
      return `${at(e.path)}: ${e.message}`;
  }
}

function formatPath(segments: (string | number)[]): string {
  return segments
    .map((s, i) =>
      typeof s === 'number'
        ? `[${s}]`
        : /^[A-Za-z_$][\w$-]*$/.test(s)
          ? `${i === 0 ? '' : '.'}${s}`
          : `[${JSON.stringify(s)}]`,
    )
    .join('');
}

function typeName(t: string): string {
  return (
    { integer: 'an integer', number: 'a number', string: 'a string', object: 'an object', array: 'a list', boolean: 'true or false', null: 'null' }[t] ?? t
  );
}
