import { parseConfig } from '../../shared/config/load-config';
import { ConfigError } from '../../shared/domain/errors';

const tenant = (extra: Record<string, unknown>) => ({
  id: 'acme-co',
  assignee: { name: 'Dana' },
  endpoints: [{ host: 'www.acme.test', port: 443, managed: 'www' }],
  managedCertificates: [{ id: 'www', dnsNames: ['www.acme.test'], issuer: 'acme', target: { type: 'files', certFile: 'a.crt', keyFile: 'a.key' } }],
  ...extra,
});

function errorsOf(doc: unknown): string[] {
  try {
    parseConfig(JSON.stringify(doc), 'certops.json', '/etc/certops');
    return [];
  } catch (err) {
    return (err as ConfigError).errors;
  }
}

it('When a tenant with ACME settings is loaded, then its lab CA file is resolved against the config directory', () => {
  const config = parseConfig(
    JSON.stringify({ tenants: [tenant({ acme: { directoryUrl: 'https://ca.example/dir', challenge: 'http-01', http01: { listenPort: 80 }, directoryCaFile: 'lab-ca.pem' } })] }),
    'certops.json',
    '/etc/certops',
  );
  expect(config.tenants[0].acme).toEqual({ directoryUrl: 'https://ca.example/dir', challenge: 'http-01', http01: { listenPort: 80 }, directoryCaFile: '/etc/certops/lab-ca.pem' });
});

it('When HTTP-01 goes through a webroot, then the webroot is resolved against the config directory', () => {
  const config = parseConfig(
    JSON.stringify({ tenants: [tenant({ acme: { directoryUrl: 'https://ca.example/dir', challenge: 'http-01', http01: { webroot: 'www' } } })] }),
    'certops.json',
    '/etc/certops',
  );
  expect(config.tenants[0].acme?.http01).toEqual({ webroot: '/etc/certops/www' });
});

it('When HTTP-01 names both a port and a webroot, then loading says to choose one', () => {
  const errors = errorsOf({ tenants: [tenant({ acme: { directoryUrl: 'https://ca.example/dir', challenge: 'http-01', http01: { listenPort: 80, webroot: 'www' } } })] });
  expect(errors).toContain('tenants[0].acme.http01: must have either listenPort or webroot');
});

it.each([
  ['an acme issuer without the tenant\'s acme settings', {}, 'tenants[0].managedCertificates[0].issuer: "acme" needs the tenant\'s acme settings (directoryUrl, challenge); add tenants[0].acme'],
  ['http-01 without the port certops answers on', { acme: { directoryUrl: 'https://ca.example/dir', challenge: 'http-01' } }, 'tenants[0].acme.http01: is required when the challenge is http-01 (the port certops answers the CA on)'],
  ['dns-01 without a DNS provider', { acme: { directoryUrl: 'https://ca.example/dir', challenge: 'dns-01' } }, 'tenants[0].acme.dns01: is required when the challenge is dns-01 (the DNS provider)'],
])('When a tenant has %s, then loading says so', (_case, extra, message) => {
  expect(errorsOf({ tenants: [tenant(extra)] })).toContain(message);
});
