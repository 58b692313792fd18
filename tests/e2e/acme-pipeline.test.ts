/**
 * The pipeline renews through a real ACME CA: Pebble (Let's Encrypt's test CA) and
 * pebble-challtestsrv, started here. One tenant proves its names by HTTP-01 (certops answers the
 * CA's request), the other by DNS-01 for a wildcard (a real TXT record the CA looks up).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createHash, X509Certificate } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { createEmbeddedRuntime, type EmbeddedRuntime } from '../../shared/composition-root';
import type { CertopsConfig } from '../../shared/config/model';
import { TlsFleet } from '../../shared/demo/tls-fleet';
import { createLogger } from '../../shared/observability/logger';
import { StaticResolver } from '../../shared/adapters/tls/system-resolver';
import { TlsProber } from '../../shared/adapters/tls/tls-prober';
import type { Notification } from '../../shared/ports/notifier';
import { startPebble, type PebbleHandle } from '../../shared/demo/pebble-lab';
import { aCA, aCertificate } from '../support/x509-builders';

jest.setTimeout(90_000);

let dir: string;
let pebble: PebbleHandle;
let fleet: TlsFleet;
let runtime: EmbeddedRuntime;
const before = new Map<string, string>();

const files = (name: string) => ({ certFile: path.join(dir, name, 'cert.pem'), keyFile: path.join(dir, name, 'key.pem') });

async function served(name: string): Promise<X509Certificate> {
  const { address, port } = fleet.endpoint(name);
  const r = await new TlsProber().probe({ address, port, servername: name === 'shop' ? 'shop.contoso.test' : 'portal.fabrikam.test', connectTimeoutMs: 1000, handshakeTimeoutMs: 2000 });
  if (!r.ok) throw new Error(r.error.message);
  return new X509Certificate(r.chain[0]);
}

const outbox = (): Notification[] =>
  readFileSync(path.join(dir, 'outbox.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Notification);

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'certops-acme-'));
  pebble = await startPebble({ env: { PEBBLE_VA_NOSLEEP: '1', PEBBLE_AUTHZREUSE: '0' } });
  writeFileSync(path.join(dir, 'pebble-tls.pem'), pebble.tlsCaPem);
  writeFileSync(path.join(dir, 'pebble-root.pem'), await pebble.rootPem());
  await pebble.dns.addA('shop.contoso.test', ['127.0.0.1']);

  // The estate before: certificates from some other CA, long expired.
  const ca = await aCA();
  for (const [name, dnsNames] of [['shop', ['shop.contoso.test']], ['portal', ['portal.fabrikam.test']]] as const) {
    const leaf = await aCertificate({ daysLeft: -30, dnsNames: [...dnsNames], issuer: ca });
    mkdirSync(path.join(dir, name));
    writeFileSync(files(name).certFile, leaf.pem + ca.pem);
    writeFileSync(files(name).keyFile, leaf.key.privateKeyPem, { mode: 0o600 });
    before.set(name, leaf.certificate.fingerprintSha256);
  }
  fleet = await TlsFleet.start(['shop', 'portal'].map((name) => ({ name, ...files(name) })));

  const trustedCaFiles = [path.join(dir, 'pebble-root.pem')];
  const config: CertopsConfig = {
    dataDir: path.join(dir, 'data'),
    discovery: { concurrency: 4, connectTimeoutMs: 1000, handshakeTimeoutMs: 2000 },
    notifications: { console: false, outboxFile: path.join(dir, 'outbox.jsonl') },
    sweepSchedule: '0 0 2 * * *',
    tenants: [
      {
        id: 'contoso',
        assignee: { name: 'Alice' },
        trustedCaFiles,
        acme: { directoryUrl: pebble.directoryUrl, challenge: 'http-01', directoryCaFile: path.join(dir, 'pebble-tls.pem'), http01: { listenPort: pebble.httpChallengePort } },
        endpoints: [{ host: 'shop.contoso.test', port: fleet.endpoint('shop').port, managed: 'shop' }],
        managedCertificates: [
          { id: 'shop', dnsNames: ['shop.contoso.test'], issuer: 'acme', target: { type: 'files', ...files('shop'), reload: { url: fleet.reloadUrl('shop') } } },
        ],
      },
      {
        id: 'fabrikam',
        assignee: { name: 'Bob' },
        trustedCaFiles,
        acme: {
          directoryUrl: pebble.directoryUrl,
          challenge: 'dns-01',
          directoryCaFile: path.join(dir, 'pebble-tls.pem'),
          dns01: { provider: 'pebble-challtestsrv', managementUrl: pebble.dns.managementUrl },
        },
        endpoints: [{ host: 'portal.fabrikam.test', port: fleet.endpoint('portal').port, managed: 'wildcard' }],
        managedCertificates: [
          { id: 'wildcard', dnsNames: ['*.fabrikam.test', 'fabrikam.test'], issuer: 'acme', target: { type: 'files', ...files('portal'), reload: { url: fleet.reloadUrl('portal') } } },
        ],
      },
    ],
  };
  runtime = createEmbeddedRuntime(config, {
    logger: createLogger({ level: 'silent' }),
    consoleStream: null,
    resolver: new StaticResolver({ 'shop.contoso.test': ['127.0.0.1'], 'portal.fabrikam.test': ['127.0.0.1'] }),
  });
  runtime.pipeline.start();
  await runtime.pipeline.sweep({ reason: 'acme e2e' });
});

afterAll(async () => {
  await runtime?.close();
  await fleet?.close();
  await pebble?.stop();
  rmSync(dir, { recursive: true, force: true });
});

it.each([
  ['HTTP-01', 'shop', 'DNS:shop.contoso.test'],
  ['DNS-01 (a wildcard)', 'portal', 'DNS:*.fabrikam.test, DNS:fabrikam.test'],
])('When an expired managed certificate is renewed through ACME with %s, then the server serves Pebble\'s new certificate for the same names', async (_challenge, name, sans) => {
  const cert = await served(name);
  expect(createHash('sha256').update(cert.raw).digest('hex')).not.toBe(before.get(name));
  expect(cert.subjectAltName).toBe(sans);
  expect(cert.issuer).toMatch(/Pebble Intermediate CA/);
});

it('When the renewals are done, then each assigned human is told once, and the audit names the ACME issuer', async () => {
  expect(outbox().map((n) => [n.tenantId, n.kind, n.to.name]).sort()).toEqual([
    ['contoso', 'rotation-completed', 'Alice'],
    ['fabrikam', 'rotation-completed', 'Bob'],
  ]);
  for (const tenant of ['contoso', 'fabrikam']) {
    const issued = (await runtime.deps.audit.list(tenant)).filter((r) => r.kind === 'certificate.issued');
    expect(issued.map((r) => r.data.issuer)).toEqual(['acme']);
    expect((await runtime.deps.audit.verify(tenant)).ok).toBe(true);
  }
});

it('When the next sweep finds the ACME certificates healthy and trusted, then nothing is renewed and nobody is told', async () => {
  const sent = outbox().length;
  await runtime.pipeline.sweep({ reason: 'acme e2e, second look' });
  expect(outbox()).toHaveLength(sent);
  for (const tenant of ['contoso', 'fabrikam']) {
    const rows = await runtime.deps.store.listObservations(tenant);
    expect(rows.map((r) => [r.status, r.findings.map((f) => f.code)])).toEqual([['healthy', []]]);
    expect((await runtime.deps.audit.list(tenant)).filter((r) => r.kind === 'certificate.issued')).toHaveLength(1);
  }
  expect(await runtime.bus.deadLetters()).toEqual([]);
});
