import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { ConfigError } from '../../shared/domain/errors';
import { loadConfig, parseConfig } from '../../shared/config/load-config';

const GOOD_YAML = `
# Two tenants; relative paths resolve against this file's directory.
discovery:
  concurrency: 8
notifications:
  outboxFile: out/notifications.jsonl
hosts:
  www.acme.example: [127.0.0.1]
tenants:
  - id: acme
    name: Acme Corp
    assignee: { name: Dana Reyes, email: dana@msp.example }
    policy:
      renewal: { renewBeforeDays: 30 }
      gate: { revoke: L3 }
    trustedCaFiles: [pki/acme-root.pem]
    endpoints:
      - { host: www.acme.example, port: 443, managed: www }
      - { host: 10.0.0.5, port: 8443, tags: [legacy] }
    managedCertificates:
      - id: www
        dnsNames: [www.acme.example]
        issuer: local-ca
        target:
          type: files
          certFile: certs/www.crt
          keyFile: /etc/ssl/private/www.key
          reload: { command: [nginx, -s, reload] }
  - id: globex
    assignee: { name: Hank Scorpio }
    endpoints: []
`;

// Builder: the smallest valid configuration as an object, for the JSON and error cases.
function aConfig(overrides: Record<string, unknown> = {}) {
  return {
    tenants: [{ id: 'acme', assignee: { name: 'Dana Reyes' }, endpoints: [{ host: 'www.acme.example', port: 443 }] }],
    ...overrides,
  };
}

function errorsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.errors;
    throw err;
  }
  throw new Error('expected a ConfigError, but the configuration was accepted');
}

describe('loadConfig with good files', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'certops-config-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('When a good YAML file is loaded, then defaults are applied and relative paths resolve against its directory', () => {
    const file = path.join(dir, 'certops.yaml');
    writeFileSync(file, GOOD_YAML);

    const config = loadConfig(file);

    expect(config.dataDir).toBe(path.join(dir, '.certops'));
    expect(config.discovery).toEqual({ concurrency: 8, connectTimeoutMs: 3000, handshakeTimeoutMs: 5000 });
    expect(config.notifications).toEqual({ console: true, outboxFile: path.join(dir, 'out/notifications.jsonl') });
    expect(config.sweepSchedule).toBe('0 0 2 * * *');
    expect(config.hosts).toEqual({ 'www.acme.example': ['127.0.0.1'] });
    const [acme, globex] = config.tenants;
    expect(acme.trustedCaFiles).toEqual([path.join(dir, 'pki/acme-root.pem')]);
    expect(acme.managedCertificates?.[0].target).toEqual({
      type: 'files',
      certFile: path.join(dir, 'certs/www.crt'),
      keyFile: '/etc/ssl/private/www.key',
      reload: { command: ['nginx', '-s', 'reload'] },
    });
    expect(acme.endpoints[1]).toEqual({ host: '10.0.0.5', port: 8443, tags: ['legacy'] });
    expect(acme.policy).toEqual({ renewal: { renewBeforeDays: 30 }, gate: { revoke: 'L3' } });
    expect(globex).toEqual({ id: 'globex', assignee: { name: 'Hank Scorpio' }, endpoints: [] });
  });

  it('When a good JSON file sets every default itself, then its values are kept and an absolute dataDir stays as written', () => {
    const file = path.join(dir, 'certops.json');
    const dataDir = path.join(dir, 'elsewhere', 'data');
    writeFileSync(
      file,
      JSON.stringify(
        aConfig({
          dataDir,
          discovery: { concurrency: 16, connectTimeoutMs: 1000, handshakeTimeoutMs: 2000 },
          notifications: { console: false, webhook: { url: 'http://127.0.0.1:9000/hook', secretEnv: 'HOOK_SECRET' } },
          sweepSchedule: '0 30 */6 * * *',
        }),
        null,
        2,
      ),
    );

    const config = loadConfig(file);

    expect(config).toEqual({
      dataDir,
      discovery: { concurrency: 16, connectTimeoutMs: 1000, handshakeTimeoutMs: 2000 },
      notifications: { console: false, webhook: { url: 'http://127.0.0.1:9000/hook', secretEnv: 'HOOK_SECRET' } },
      sweepSchedule: '0 30 */6 * * *',
      tenants: aConfig().tenants,
    });
  });

  it('When a relative dataDir is given, then it resolves against the base directory', () => {
    const config = parseConfig(JSON.stringify(aConfig({ dataDir: 'state' })), 'inline', dir);
    expect(config.dataDir).toBe(path.join(dir, 'state'));
  });
});

describe('loadConfig with bad files', () => {
  it('When a configuration has many problems, then one ConfigError lists every one with its path', () => {
    const bad = {
      sweepSchedule: '0 2 * * *', // five fields: a Unix cron line, not NCRONTAB
      discovery: { concurency: 8 }, // misspelt
      notifications: { webhook: { url: 'http://127.0.0.1:9000/hook', secretEnv: 'MISSING_SECRET' } },
      tenants: [
        {
          id: 'acme',
          assignee: { name: 'Dana Reyes', email: 'not-an-email' },
          policy: { renewal: { renewAtRatio: 1.5 }, gate: { renew: 'L9' } },
          endpoints: [
            { host: 'www.acme.example', port: 443, managed: 'wwww' },
            { host: 'shop.acme.example', port: 443, managed: 'www' },
          ],
          managedCertificates: [
            { id: 'www', dnsNames: ['www.acme.example'], issuer: 'local-ca', target: { type: 'files', certFile: 'a.crt', keyFile: 'a.key' } },
            { id: 'www', dnsNames: [], issuer: 'local-ca', target: { type: 'files', certFile: 'b.crt', keyFile: 'b.key' } },
          ],
        },
        { id: 'Acme Corp', endpoints: [{ host: 'https://example.com/', port: 70000 }] },
        { id: 'acme', assignee: { name: 'Someone' }, endpoints: [] },
      ],
    };

    const errors = errorsOf(() => parseConfig(JSON.stringify(bad), 'bad.json', '/tmp'));

    expect(errors.sort()).toEqual(
      [
        'discovery.concurency: is not a known key (known keys: concurrency, connectTimeoutMs, handshakeTimeoutMs)',
        'sweepSchedule: must match ^\\s*\\S+(\\s+\\S+){5}\\s*$ (six NCRONTAB fields: second minute hour day month day-of-week)',
        'tenants[0].assignee.email: must be a valid email',
        'tenants[0].endpoints[0].managed: "wwww" is not the id of a managed certificate of this tenant (known: www)',
        'tenants[0].endpoints[1]: "shop.acme.example" is not covered by the names of managed certificate "www" (www.acme.example); add it there or remove "managed"',
        'tenants[0].managedCertificates[1].dnsNames: must have at least 1 item',
        'tenants[0].managedCertificates[1].id: "www" is already the id of managedCertificates[0] in this tenant; ids must be unique per tenant',
        'tenants[0].policy.gate.renew: must be one of L0, L1, L2, L3',
        'tenants[0].policy.renewal.renewAtRatio: must be < 1',
        'tenants[1].assignee: is required',
        'tenants[1].endpoints[0].host: must match ^[^\\s/]+$ (a DNS name or IP address, without scheme, path or spaces)',
        'tenants[1].endpoints[0].port: must be <= 65535',
        'tenants[1].id: must match ^[a-z0-9][a-z0-9-]{0,62}$ (lower-case letters, digits and hyphens, not starting with a hyphen, at most 63)',
        'tenants[2].id: "acme" is already the id of tenants[0]; tenant ids must be unique',
      ].sort(),
    );
  });

  it('When the error is thrown, then its message names the source and lists the errors one per line', () => {
    const bad = aConfig({ tenants: [{ id: 'acme', endpoints: [{ host: 'x', port: 0 }] }] });
    expect(() => parseConfig(JSON.stringify(bad), 'certops.json', '/tmp')).toThrow(
      'invalid configuration in certops.json:\n  - tenants[0].assignee: is required\n  - tenants[0].endpoints[0].port: must be >= 1',
    );
  });

  it.each([
    ['the file is not an object', '[1, 2]', '(root): must be an object'],
    ['tenants is missing', 'dataDir: x', 'tenants: is required'],
    ['the file is empty', '', 'the file is empty; it must hold an object with at least `tenants`'],
    ['the YAML is malformed', 'tenants:\n  - id: a\n   bad: [', 'cannot parse the file at line 3'],
    ['a key appears twice', 'tenants: []\ntenants: []', 'duplicated mapping key'],
    ['a renewal ratio is 0', 'tenants:\n  - {id: a, assignee: {name: n}, endpoints: [], policy: {renewal: {renewAtRatio: 0}}}', 'tenants[0].policy.renewal.renewAtRatio: must be > 0'],
    ['a hosts entry is not an address', 'hosts: {"db.local": ["not-an-ip"]}\ntenants: []', 'hosts["db.local"][0]: must be an IPv4 or IPv6 address'],
  ])('When %s, then the ConfigError says so', (_name, text, expected) => {
    const errors = errorsOf(() => parseConfig(text, 'certops.yaml', '/tmp'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain(expected);
  });

  it('When the file does not exist, then a ConfigError names the path', () => {
    const missing = path.join(tmpdir(), 'certops-no-such-dir', 'certops.yaml');
    const errors = errorsOf(() => loadConfig(missing));
    expect(errors[0]).toMatch(/^cannot read the configuration file: ENOENT/);
  });
});

describe('A managed certificate that nothing can verify (defect: a rotation committed with zero verification)', () => {
  const managed = (target: Record<string, unknown>) => ({ id: 'orphan', dnsNames: ['orphan.acme.example'], issuer: 'local-ca', target });
  const files = { type: 'files', certFile: '/tmp/o.crt', keyFile: '/tmp/o.key' };

  it('When no endpoint serves it and its only target is files, then the configuration is refused, naming it', () => {
    const bad = aConfig({ tenants: [{ id: 'acme', assignee: { name: 'Dana' }, endpoints: [], managedCertificates: [managed(files)] }] });
    const errors = errorsOf(() => parseConfig(JSON.stringify(bad), 'certops.json', '/tmp'));
    expect(errors).toEqual([expect.stringContaining('tenants[0].managedCertificates[0]: nothing can verify a rotation of "orphan"')]);
  });

  it('When an endpoint serves it, then it is accepted', () => {
    const good = aConfig({ tenants: [{ id: 'acme', assignee: { name: 'Dana' }, endpoints: [{ host: 'orphan.acme.example', port: 443, managed: 'orphan' }], managedCertificates: [managed(files)] }] });
    expect(() => parseConfig(JSON.stringify(good), 'certops.json', '/tmp')).not.toThrow();
  });

  it('When no endpoint serves it but a Key Vault target reads its version back, then it is accepted', () => {
    const kv = { type: 'key-vault', vaultUrl: 'https://v.vault.azure.net', certificateName: 'orphan' };
    const good = aConfig({ tenants: [{ id: 'acme', assignee: { name: 'Dana' }, endpoints: [], managedCertificates: [managed(kv)] }] });
    expect(() => parseConfig(JSON.stringify(good), 'certops.json', '/tmp')).not.toThrow();
  });
});

describe('A reload command that names a secret of certops (defect 4: children inherited the whole environment)', () => {
  const withReloadEnv = (env: string[], extra: Record<string, unknown> = {}) =>
    aConfig({
      ...extra,
      tenants: [
        {
          id: 'acme',
          assignee: { name: 'Dana' },
          endpoints: [{ host: 'www.acme.example', port: 443, managed: 'www' }],
          managedCertificates: [{ id: 'www', dnsNames: ['www.acme.example'], issuer: 'local-ca', target: { type: 'files', certFile: '/tmp/w.crt', keyFile: '/tmp/w.key', reload: { command: ['nginx', '-s', 'reload'], env } } }],
        },
      ],
    });

  it.each([
    ["certops' master key", ['CERTOPS_MASTER_KEY'], {}],
    ['an Azure client secret', ['AZURE_CLIENT_SECRET'], {}],
    ['the webhook secret the configuration names', ['HOOK_SECRET'], { notifications: { webhook: { url: 'https://hooks.example/x', secretEnv: 'HOOK_SECRET' } } }],
  ])('When it names %s, then the configuration is refused, naming the variable', (_what, env, extra) => {
    const errors = errorsOf(() => parseConfig(JSON.stringify(withReloadEnv(env, extra)), 'certops.json', '/tmp'));
    expect(errors).toEqual([expect.stringMatching(new RegExp(`target\\.reload\\.env: ${env[0]} holds a secret of certops`))]);
  });

  it('When it names ordinary variables, then it is accepted', () => {
    expect(() => parseConfig(JSON.stringify(withReloadEnv(['SYSTEMD_UNIT', 'KUBECONFIG'])), 'certops.json', '/tmp')).not.toThrow();
  });
});
