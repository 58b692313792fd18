/**
 * The JSON Schema (draft-07) of the certops configuration file (YAML or JSON), the one schema the
 * configuration is validated by (CONVENTIONS §7). It describes the file as written: defaults are
 * applied afterwards by load-config.ts, so optional here may be required in CertopsConfig
 * (model.ts). Objects reject unknown keys so that a misspelt key is reported, not ignored.
 * Checks across values (unique ids, references between tenants' entries) live in load-config.ts.
 */
import type { Schema } from 'jsonschema';

/** Tenant ids appear in resource names, URLs and partition keys: a DNS label, lower-case. */
export const TENANT_ID_PATTERN = '^[a-z0-9][a-z0-9-]{0,62}$';
/** Managed certificate ids follow the same rule, for the same reasons. */
export const MANAGED_ID_PATTERN = TENANT_ID_PATTERN;
/** NCRONTAB as Azure Functions reads it: six fields, {second} {minute} {hour} {day} {month} {day-of-week}. */
export const NCRONTAB_PATTERN = '^\\s*\\S+(\\s+\\S+){5}\\s*$';

const nonEmptyString = { type: 'string', minLength: 1 } as const;
const stringList = { type: 'array', items: nonEmptyString } as const;
const ipAddress: Schema = {
  type: 'string',
  anyOf: [{ format: 'ipv4' }, { format: 'ipv6' }],
  description: 'an IPv4 or IPv6 address',
};
const url: Schema = { type: 'string', format: 'uri', description: 'an absolute URL' };
const gateLevel: Schema = { type: 'string', enum: ['L0', 'L1', 'L2', 'L3'] };

const contact: Schema = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: {
    name: nonEmptyString,
    email: { type: 'string', format: 'email' },
  },
};

const policy: Schema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    renewal: {
      type: 'object',
      additionalProperties: false,
      properties: {
        renewBeforeDays: { type: 'number', exclusiveMinimum: 0 },
        renewAtRatio: { type: 'number', exclusiveMinimum: 0, exclusiveMaximum: 1 },
      },
    },
    gate: {
      type: 'object',
      additionalProperties: false,
      properties: { renew: gateLevel, rotate: gateLevel, revoke: gateLevel, 'credential-roll': gateLevel },
    },
    risk: {
      type: 'object',
      additionalProperties: false,
      properties: {
        wildcardEndpoints: { type: 'integer', minimum: 0 },
        productionTags: stringList,
        foreignCertificate: { type: 'boolean' },
        caChange: { type: 'boolean' },
        raiseTo: gateLevel,
      },
    },
    learning: {
      type: 'object',
      additionalProperties: false,
      properties: {
        window: { type: 'integer', minimum: 1, maximum: 50 },
        minActions: { type: 'integer', minimum: 1, maximum: 50 },
        overrideRate: { type: 'number', exclusiveMinimum: 0, maximum: 1 },
        raiseTo: gateLevel,
        relaxAfter: { type: 'integer', minimum: 1 },
      },
    },
    approvalTtlHours: { type: 'number', exclusiveMinimum: 0, maximum: 720 },
    // How long a replaced private key is kept so that a human can roll a rotation back (default 7 days).
    rollbackWindowDays: { type: 'number', minimum: 0, maximum: 90 },
    notify: {
      type: 'object',
      additionalProperties: false,
      properties: {
        minSeverity: { type: 'string', enum: ['info', 'warning', 'critical'] },
        quietHours: {
          type: 'object',
          additionalProperties: false,
          required: ['start', 'end'],
          properties: {
            start: { type: 'string', pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]$', description: 'HH:MM' },
            end: { type: 'string', pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]$', description: 'HH:MM' },
            timeZone: nonEmptyString,
          },
        },
        exclude: stringList,
        routes: {
          type: 'array',
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['kinds', 'to'],
            properties: {
              kinds: {
                type: 'array',
                minItems: 1,
                items: { type: 'string', enum: ['certificate-state-changed', 'rotation-completed', 'rotation-failed', 'approval-requested', 'approval-expired', 'recommendation', 'gate-changed', 'digest'] },
              },
              to: { type: 'string', enum: ['assignee', 'escalation'] },
            },
          },
        },
      },
    },
  },
};

const endpoint: Schema = {
  type: 'object',
  additionalProperties: false,
  required: ['host', 'port'],
  properties: {
    host: {
      type: 'string',
      pattern: '^[^\\s/]+$',
      description: 'a DNS name or IP address, without scheme, path or spaces',
    },
    port: { type: 'integer', minimum: 1, maximum: 65535 },
    sni: nonEmptyString,
    managed: nonEmptyString,
    tags: stringList,
  },
};

const placement = {
  serves: { type: 'array', minItems: 1, items: nonEmptyString, description: 'endpoint ids (host:port) served from this target' },
  canary: { type: 'boolean' },
};

const filesTarget: Schema = {
  type: 'object',
  additionalProperties: false,
  required: ['type', 'certFile', 'keyFile'],
  properties: {
    type: { type: 'string', enum: ['files'] },
    certFile: nonEmptyString,
    keyFile: nonEmptyString,
    chainFile: nonEmptyString,
    reload: {
      type: 'object',
      additionalProperties: false,
      properties: {
        // argv, run without a shell
        command: { type: 'array', minItems: 1, items: nonEmptyString },
        url,
        // Names of environment variables the command receives besides PATH, LANG and HOME (never certops' own secrets).
        env: { type: 'array', items: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*$', description: 'an environment variable name' } },
      },
    },
    ...placement,
  },
};

const keyVaultTarget: Schema = {
  type: 'object',
  additionalProperties: false,
  required: ['type', 'vaultUrl', 'certificateName'],
  properties: {
    type: { type: 'string', enum: ['key-vault'] },
    vaultUrl: url,
    // Key Vault object names: 1-127 letters, digits and hyphens.
    certificateName: { type: 'string', pattern: '^[0-9A-Za-z-]{1,127}$' },
    ...placement,
  },
};

const azureBindingTarget: Schema = {
  type: 'object',
  additionalProperties: false,
  required: ['type', 'resourceId'],
  properties: {
    type: { type: 'string', enum: ['app-service', 'front-door', 'application-gateway'] },
    resourceId: { type: 'string', pattern: '^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/.+$', description: 'an Azure Resource Manager id' },
    ...placement,
  },
};

const rmmScriptTarget: Schema = {
  type: 'object',
  additionalProperties: false,
  required: ['type', 'rmm', 'deviceId', 'site'],
  properties: {
    type: { type: 'string', enum: ['rmm-script'] },
    rmm: { type: 'string', enum: ['ninjaone', 'datto-rmm'] },
    deviceId: nonEmptyString,
    site: nonEmptyString,
    ...placement,
  },
};

/** One of the target shapes, chosen by `type` (so that an error names the fields of that type). */
const deploymentTarget: Schema = {
  type: 'object',
  required: ['type'],
  properties: { type: { type: 'string', enum: ['files', 'key-vault', 'app-service', 'front-door', 'application-gateway', 'rmm-script'] } },
  allOf: [
    { if: { properties: { type: { const: 'files' } } }, then: filesTarget },
    { if: { properties: { type: { const: 'key-vault' } } }, then: keyVaultTarget },
    { if: { properties: { type: { enum: ['app-service', 'front-door', 'application-gateway'] } } }, then: azureBindingTarget },
    { if: { properties: { type: { const: 'rmm-script' } } }, then: rmmScriptTarget },
  ],
};

const managedCertificate: Schema = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'dnsNames', 'issuer'],
  // One target, or several that rotate all or none.
  oneOf: [{ required: ['target'] }, { required: ['targets'] }],
  properties: {
    id: {
      type: 'string',
      pattern: MANAGED_ID_PATTERN,
      description: 'lower-case letters, digits and hyphens, not starting with a hyphen, at most 63',
    },
    dnsNames: { type: 'array', minItems: 1, items: nonEmptyString },
    ipAddresses: { type: 'array', items: ipAddress },
    issuer: { type: 'string', enum: ['local-ca', 'acme'] },
    keyType: { type: 'string', enum: ['ec-p256', 'rsa-2048'] },
    // 3650 days: a sanity bound, not a policy (public TLS allows 398 days, soon fewer).
    validityDays: { type: 'integer', minimum: 1, maximum: 3650 },
    target: deploymentTarget,
    targets: { type: 'array', minItems: 1, items: deploymentTarget },
  },
};

const acme: Schema = {
  type: 'object',
  additionalProperties: false,
  required: ['directoryUrl', 'challenge'],
  properties: {
    directoryUrl: url,
    challenge: { type: 'string', enum: ['http-01', 'dns-01'] },
    contactEmail: { type: 'string', format: 'email' },
    eab: {
      type: 'object',
      additionalProperties: false,
      required: ['kid', 'hmacKeyEnv'],
      properties: { kid: nonEmptyString, hmacKeyEnv: { type: 'string', pattern: '^[A-Z_][A-Z0-9_]*$', description: 'an environment variable name' } },
    },
    directoryCaFile: nonEmptyString,
    preferredChain: nonEmptyString,
    profile: nonEmptyString,
    http01: {
      type: 'object',
      additionalProperties: false,
      properties: { listenPort: { type: 'integer', minimum: 1, maximum: 65535 }, webroot: nonEmptyString },
      oneOf: [{ required: ['listenPort'] }, { required: ['webroot'] }],
      description: 'either listenPort or webroot',
    },
    dns01: {
      type: 'object',
      additionalProperties: false,
      required: ['provider', 'managementUrl'],
      properties: { provider: { type: 'string', enum: ['pebble-challtestsrv'] }, managementUrl: url, delegationZone: nonEmptyString, resolver: nonEmptyString },
    },
  },
};

const tenant: Schema = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'assignee', 'endpoints'],
  properties: {
    id: {
      type: 'string',
      pattern: TENANT_ID_PATTERN,
      description: 'lower-case letters, digits and hyphens, not starting with a hyphen, at most 63',
    },
    name: nonEmptyString,
    entraTenantId: { type: 'string', pattern: '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$', description: "the client's Microsoft Entra tenant id (a GUID)" },
    assignee: contact,
    escalation: contact,
    policy,
    trustedCaFiles: stringList,
    acme,
    endpoints: { type: 'array', items: endpoint },
    managedCertificates: { type: 'array', items: managedCertificate },
  },
};

/** The configuration file's schema (JSON Schema draft-07). */
export const CONFIG_SCHEMA: Schema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'https://certops.local/schemas/config.json',
  title: 'certops configuration',
  type: 'object',
  additionalProperties: false,
  required: ['tenants'],
  properties: {
    dataDir: nonEmptyString,
    discovery: {
      type: 'object',
      additionalProperties: false,
      properties: {
        concurrency: { type: 'integer', minimum: 1, maximum: 10000 },
        connectTimeoutMs: { type: 'integer', minimum: 1, maximum: 600000 },
        handshakeTimeoutMs: { type: 'integer', minimum: 1, maximum: 600000 },
      },
    },
    notifications: {
      type: 'object',
      additionalProperties: false,
      properties: {
        console: { type: 'boolean' },
        outboxFile: nonEmptyString,
        teams: {
          type: 'object',
          additionalProperties: false,
          required: ['urlEnv'],
          properties: { urlEnv: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*$', description: 'an environment variable name (the Workflows URL carries a signature)' } },
        },
        email: {
          type: 'object',
          additionalProperties: false,
          required: ['sender'],
          properties: { sender: nonEmptyString, graphBaseUrl: url },
        },
        actionsBaseUrl: url,
        digestSchedule: { type: 'string', pattern: NCRONTAB_PATTERN, description: 'six NCRONTAB fields' },
        webhook: {
          type: 'object',
          additionalProperties: false,
          required: ['url', 'secretEnv'],
          properties: {
            url,
            // the NAME of the environment variable holding the signing secret, never the secret
            secretEnv: {
              type: 'string',
              pattern: '^[A-Za-z_][A-Za-z0-9_]*$',
              description: 'an environment variable name',
            },
          },
        },
      },
    },
    hosts: {
      type: 'object',
      additionalProperties: { type: 'array', minItems: 1, items: ipAddress },
    },
    sweepSchedule: {
      type: 'string',
      pattern: NCRONTAB_PATTERN,
      description: 'six NCRONTAB fields: second minute hour day month day-of-week',
    },
    api: {
      type: 'object',
      additionalProperties: false,
      required: ['auth'],
      properties: {
        port: { type: 'integer', minimum: 0, maximum: 65535 },
        auth: {
          oneOf: [
            { type: 'object', additionalProperties: false, required: ['mode'], properties: { mode: { const: 'local' } } },
            {
              type: 'object',
              additionalProperties: false,
              required: ['mode', 'tenantId', 'audience'],
              properties: { mode: { const: 'entra' }, tenantId: nonEmptyString, audience: nonEmptyString },
            },
          ],
        },
      },
    },
    tenants: { type: 'array', items: tenant },
  },
};
