/**
 * Deployment targets in the configuration (shared/config/load-config.ts): one `target` or several
 * `targets` per managed certificate, each of a typed shape; `serves` names endpoints of the same
 * certificate and at most one target is the canary. Files are written as YAML and loaded as an
 * operator would.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import * as yaml from 'js-yaml';
import { loadConfig } from '../../shared/config/load-config';
import { deploymentTargets, type CertopsConfig } from '../../shared/config/model';
import { ConfigError } from '../../shared/domain/errors';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'certops-targets-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

type Json = Record<string, unknown>;

/** A files target with relative paths under `name/`. */
function aFilesTarget(name: string, extra: Json = {}): Json {
  return { type: 'files', certFile: `${name}/site.crt`, keyFile: `${name}/site.key`, ...extra };
}

/** The managed certificate `www` (two endpoints: www.contoso.test:443 and :8443) with the given placement fields. */
function aManagedWww(placement: Json): Json {
  return { id: 'www', dnsNames: ['www.contoso.test'], issuer: 'local-ca', ...placement };
}

function aConfigWith(managed: Json, endpoints: Json[] = [
  { host: 'www.contoso.test', port: 443, managed: 'www' },
  { host: 'www.contoso.test', port: 8443, managed: 'www' },
]): Json {
  return { tenants: [{ id: 'contoso', assignee: { name: 'Dana Reyes' }, endpoints, managedCertificates: [managed] }] };
}

/** Writes `config` as YAML and loads it. */
function load(config: Json): CertopsConfig {
  const file = path.join(dir, 'certops.yaml');
  writeFileSync(file, yaml.dump(config));
  return loadConfig(file);
}

function errorsOf(config: Json): string[] {
  try {
    load(config);
  } catch (err) {
    if (err instanceof ConfigError) return err.errors;
    throw err;
  }
  throw new Error('expected a ConfigError, but the configuration was accepted');
}

describe('deployment targets in the configuration', () => {
  it('When a certificate has two files targets, then both load with their paths resolved absolute, in order', () => {
    const config = load(
      aConfigWith(
        aManagedWww({
          targets: [
            aFilesTarget('edge-1', { serves: ['www.contoso.test:443'], canary: true, reload: { command: ['nginx', '-s', 'reload'] } }),
            aFilesTarget('edge-2', { chainFile: 'edge-2/chain.pem', serves: ['www.contoso.test:8443'] }),
          ],
        }),
      ),
    );

    const managed = config.tenants[0].managedCertificates![0];
    expect(managed.target).toBeUndefined();
    expect(managed.targets).toEqual([
      {
        type: 'files',
        certFile: path.join(dir, 'edge-1/site.crt'),
        keyFile: path.join(dir, 'edge-1/site.key'),
        serves: ['www.contoso.test:443'],
        canary: true,
        reload: { command: ['nginx', '-s', 'reload'] },
      },
      {
        type: 'files',
        certFile: path.join(dir, 'edge-2/site.crt'),
        keyFile: path.join(dir, 'edge-2/site.key'),
        chainFile: path.join(dir, 'edge-2/chain.pem'),
        serves: ['www.contoso.test:8443'],
      },
    ]);
    expect(deploymentTargets(managed)).toEqual(managed.targets);
  });

  it('When a certificate has one target, then deploymentTargets gives it as a list of one', () => {
    const managed = load(aConfigWith(aManagedWww({ target: aFilesTarget('edge-1') }))).tenants[0].managedCertificates![0];
    expect(deploymentTargets(managed)).toEqual([{ type: 'files', certFile: path.join(dir, 'edge-1/site.crt'), keyFile: path.join(dir, 'edge-1/site.key') }]);
  });

  it('When serves uses another case than the endpoint, then it still matches (endpoint ids are lowercase)', () => {
    expect(() => load(aConfigWith(aManagedWww({ targets: [aFilesTarget('a', { serves: ['WWW.Contoso.test:443'] })] })))).not.toThrow();
  });

  it('When an endpoint has its own SNI, then serves names it as host:port/sni', () => {
    const endpoints = [{ host: '10.0.0.5', port: 443, sni: 'www.contoso.test', managed: 'www' }];
    expect(() => load(aConfigWith(aManagedWww({ targets: [aFilesTarget('a', { serves: ['10.0.0.5:443/www.contoso.test'] })] }), endpoints))).not.toThrow();
  });

  it('When an rmm-script target is given, then it loads as written (no paths to resolve)', () => {
    const rmm = { type: 'rmm-script', rmm: 'ninjaone', deviceId: 'dev-42', site: 'Default Web Site', serves: ['www.contoso.test:443'] };
    const managed = load(aConfigWith(aManagedWww({ targets: [aFilesTarget('edge-1'), rmm] }))).tenants[0].managedCertificates![0];
    expect(managed.targets![1]).toEqual(rmm);
  });

  it.each([
    { type: 'key-vault', target: { type: 'key-vault', vaultUrl: 'https://contoso.vault.azure.net', certificateName: 'www-contoso-2030' } },
    { type: 'app-service', target: { type: 'app-service', resourceId: '/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Web/sites/www' } },
    { type: 'front-door', target: { type: 'front-door', resourceId: '/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Cdn/profiles/fd' } },
  ])('When a good $type target is given, then it loads as written', ({ target }) => {
    expect(load(aConfigWith(aManagedWww({ target }))).tenants[0].managedCertificates![0].target).toEqual(target);
  });
});

describe('deployment targets refused', () => {
  it('When a certificate has both target and targets, then the error says it must have one of them', () => {
    const errors = errorsOf(aConfigWith(aManagedWww({ target: aFilesTarget('a'), targets: [aFilesTarget('b')] })));
    expect(errors).toEqual([expect.stringMatching(/^tenants\[0\]\.managedCertificates\[0\]: must have/)]);
  });

  it('When a certificate has neither target nor targets, then it is refused at that certificate', () => {
    const errors = errorsOf(aConfigWith(aManagedWww({})));
    expect(errors).toEqual([expect.stringMatching(/^tenants\[0\]\.managedCertificates\[0\]: must have/)]);
  });

  it('When targets is an empty list, then it is refused', () => {
    expect(errorsOf(aConfigWith(aManagedWww({ targets: [] })))).toContain('tenants[0].managedCertificates[0].targets: must have at least 1 item');
  });

  it('When serves names an endpoint that is not one of the certificate’s, then the error names it and lists its endpoints', () => {
    const endpoints = [
      { host: 'www.contoso.test', port: 443, managed: 'www' },
      { host: 'api.contoso.test', port: 443 }, // not this certificate's
    ];
    const errors = errorsOf(aConfigWith(aManagedWww({ targets: [aFilesTarget('a'), aFilesTarget('b', { serves: ['www.contoso.test:443', 'api.contoso.test:443'] })] }), endpoints));
    expect(errors).toEqual([
      'tenants[0].managedCertificates[0].targets[1].serves: "api.contoso.test:443" is not an endpoint of certificate "www" (its endpoints: www.contoso.test:443)',
    ]);
  });

  // The check runs for `targets` only; a single target that serves a wrong endpoint would be
  // verified against an endpoint it does not serve.
  it('When the single target’s serves names an endpoint that is not the certificate’s, then it is refused too', () => {
    const errors = errorsOf(aConfigWith(aManagedWww({ target: aFilesTarget('a', { serves: ['mail.contoso.test:993'] }) })));
    expect(errors).toEqual([expect.stringContaining('"mail.contoso.test:993" is not an endpoint of certificate "www"')]);
  });

  it('When two targets say canary: true, then the error says at most one may', () => {
    const errors = errorsOf(aConfigWith(aManagedWww({ targets: [aFilesTarget('a', { canary: true }), aFilesTarget('b'), aFilesTarget('c', { canary: true })] })));
    expect(errors).toEqual(['tenants[0].managedCertificates[0].targets: 2 targets say canary: true; at most one may']);
  });

  it.each([
    { why: 'has a dot', name: 'www.contoso' },
    { why: 'has an underscore', name: 'www_contoso' },
    { why: 'is empty', name: '' },
    { why: 'is 128 characters', name: 'a'.repeat(128) },
  ])('When a key-vault target’s certificateName $why, then it is refused at that field', ({ name }) => {
    const errors = errorsOf(aConfigWith(aManagedWww({ targets: [aFilesTarget('a'), { type: 'key-vault', vaultUrl: 'https://contoso.vault.azure.net', certificateName: name }] })));
    expect(errors).toContainEqual(expect.stringMatching(/^tenants\[0\]\.managedCertificates\[0\]\.targets\[1\]\.certificateName: must match/));
    expect(errors.every((e) => e.startsWith('tenants[0].managedCertificates[0].targets[1]'))).toBe(true);
  });

  it.each([
    { why: 'an unknown type', target: { type: 'ftp', host: 'x' }, at: 'type' },
    { why: 'an rmm-script without a site', target: { type: 'rmm-script', rmm: 'ninjaone', deviceId: 'dev-42' }, at: 'site' },
    { why: 'an rmm-script of an unknown RMM', target: { type: 'rmm-script', rmm: 'kaseya', deviceId: 'dev-42', site: 'Default Web Site' }, at: 'rmm' },
    { why: 'a files target with a key-vault field', target: { ...aFilesTarget('a'), vaultUrl: 'https://contoso.vault.azure.net' }, at: 'vaultUrl' },
    { why: 'an app-service target whose resourceId is not an ARM id', target: { type: 'app-service', resourceId: 'www' }, at: 'resourceId' },
  ])('When a target is $why, then the error points at its $at', ({ target, at }) => {
    const errors = errorsOf(aConfigWith(aManagedWww({ targets: [target] })));
    expect(errors.some((e) => e.startsWith(`tenants[0].managedCertificates[0].targets[0].${at}:`))).toBe(true);
  });

  // CONVENTIONS §7: every error names a key and what is wrong with it; jsonschema's own wording
  // for a failed `allOf` branch means nothing to an operator and only repeats the field's error.
  it.each([
    { why: 'a key-vault target with a bad certificateName', target: { type: 'key-vault', vaultUrl: 'https://contoso.vault.azure.net', certificateName: 'www.contoso' } },
    { why: 'an rmm-script target without a site', target: { type: 'rmm-script', rmm: 'ninjaone', deviceId: 'dev-42' } },
  ])('When $why is refused, then no error speaks of schema internals (allOf, subschema)', ({ target }) => {
    const errors = errorsOf(aConfigWith(aManagedWww({ targets: [target] })));
    expect(errors.filter((e) => /allOf|subschema/.test(e))).toEqual([]);
  });
});
