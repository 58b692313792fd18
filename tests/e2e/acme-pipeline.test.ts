/**
 * The pipeline renews through a real ACME CA: Pebble (Let's Encrypt's test CA) and
 * pebble-challtestsrv, started here. One tenant proves its names by HTTP-01 (certops answers the
 * CA's request), the other by DNS-01 for a wildcard (a real TXT record the CA looks up, in the
 * MSP's zone, through the client's `_acme-challenge` CNAME). A third
 * certificate, whose name leads the CA nowhere, fails alone: the others are not held up.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createHash, X509Certificate } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { createEmbeddedRuntime, type EmbeddedRuntime } from '../../shared/composition-root';
import { aTestConfig } from '../support/config-builders';
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
  const r = await new TlsProber().probe({ address, port, connectTimeoutMs: 1000, handshakeTimeoutMs: 2000 });
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
  // fabrikam has no DNS rights for certops: its _acme-challenge is delegated to the MSP's zone.
  await pebble.dns.setCname('_acme-challenge.fabrikam.test', 'fabrikam.test.acme.msp.test');
  // challtestsrv answers 127.0.0.1 for any name; this one points the CA where nothing listens.
  await pebble.dns.addA('broken.contoso.test', ['127.0.0.66']);

  // The estate before: certificates from some other CA, long expired.
  const ca = await aCA();
  for (const [name, dnsNames] of [['shop', ['shop.contoso.test']], ['portal', ['portal.fabrikam.test']], ['broken', ['broken.contoso.test']], ['www-nw', ['www.northwind.test']]] as const) {
    const leaf = await aCertificate({ daysLeft: -30, dnsNames: [...dnsNames], issuer: ca });
    mkdirSync(path.join(dir, name));
    writeFileSync(files(name).certFile, leaf.pem + ca.pem);
    writeFileSync(files(name).keyFile, leaf.key.privateKeyPem, { mode: 0o600 });
    before.set(name, leaf.certificate.fingerprintSha256);
  }
  fleet = await TlsFleet.start(['shop', 'portal', 'broken', 'www-nw'].map((name) => ({ name, ...files(name) })));

  const trustedCaFiles = [path.join(dir, 'pebble-root.pem')];
  // DNS-01 through the MSP's delegation zone, asking challtestsrv (the CA's DNS) for the CNAMEs.
  const delegatedDns01 = {
    directoryUrl: pebble.directoryUrl,
    challenge: 'dns-01' as const,
    directoryCaFile: path.join(dir, 'pebble-tls.pem'),
    dns01: { provider: 'pebble-challtestsrv' as const, managementUrl: pebble.dns.managementUrl, delegationZone: 'acme.msp.test', resolver: `127.0.0.1:${pebble.dnsPort}` },
  };
  const config = aTestConfig(dir, {
    notifications: { console: false, outboxFile: path.join(dir, 'outbox.jsonl') },
    tenants: [
      {
        id: 'contoso',
        assignee: { name: 'Alice' },
        trustedCaFiles,
        acme: { directoryUrl: pebble.directoryUrl, challenge: 'http-01', directoryCaFile: path.join(dir, 'pebble-tls.pem'), http01: { listenPort: pebble.httpChallengePort } },
        escalation: { name: 'On-call' },
        endpoints: [
          { host: 'shop.contoso.test', port: fleet.endpoint('shop').port, managed: 'shop' },
          // The CA's DNS sends its HTTP-01 validation where nothing answers.
          { host: 'broken.contoso.test', port: fleet.endpoint('broken').port, managed: 'broken' },
        ],
        managedCertificates: [
          { id: 'shop', dnsNames: ['shop.contoso.test'], issuer: 'acme', target: { type: 'files', ...files('shop'), reload: { url: fleet.reloadUrl('shop') } } },
          { id: 'broken', dnsNames: ['broken.contoso.test'], issuer: 'acme', target: { type: 'files', ...files('broken'), reload: { url: fleet.reloadUrl('broken') } } },
        ],
      },
      {
        id: 'fabrikam',
        assignee: { name: 'Bob' },
        trustedCaFiles,
        acme: delegatedDns01,
        endpoints: [{ host: 'portal.fabrikam.test', port: fleet.endpoint('portal').port, managed: 'wildcard' }],
        managedCertificates: [
          { id: 'wildcard', dnsNames: ['*.fabrikam.test', 'fabrikam.test'], issuer: 'acme', target: { type: 'files', ...files('portal'), reload: { url: fleet.reloadUrl('portal') } } },
        ],
      },
      {
        // Delegation is configured, but the client never created the CNAME.
        id: 'northwind',
        assignee: { name: 'Carol' },
        trustedCaFiles,
        acme: delegatedDns01,
        endpoints: [{ host: 'www.northwind.test', port: fleet.endpoint('www-nw').port, managed: 'www' }],
        managedCertificates: [
          { id: 'www', dnsNames: ['www.northwind.test'], issuer: 'acme', target: { type: 'files', ...files('www-nw'), reload: { url: fleet.reloadUrl('www-nw') } } },
        ],
      },
    ],
  });
  runtime = createEmbeddedRuntime(config, {
    logger: createLogger({ level: 'silent' }),
    consoleStream: null,
    resolver: new StaticResolver({
      'shop.contoso.test': ['127.0.0.1'],
      'portal.fabrikam.test': ['127.0.0.1'],
      'broken.contoso.test': ['127.0.0.1'],
      'www.northwind.test': ['127.0.0.1'],
    }),
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
  ['DNS-01 for a wildcard, through a CNAME delegation', 'portal', 'DNS:*.fabrikam.test, DNS:fabrikam.test'],
])('When an expired managed certificate is renewed through ACME with %s, then the server serves Pebble\'s new certificate for the same names', async (_challenge, name, sans) => {
  const cert = await served(name);
  expect(createHash('sha256').update(cert.raw).digest('hex')).not.toBe(before.get(name));
  expect(cert.subjectAltName).toBe(sans);
  expect(cert.issuer).toMatch(/Pebble Intermediate CA/);
});

it('When the renewals are done, then each assigned human is told once, and the audit records the CA, the challenge and the time', async () => {
  expect(outbox().filter((n) => n.kind === 'rotation-completed').map((n) => [n.tenantId, n.subject.certificateId, n.to.name]).sort()).toEqual([
    ['contoso', 'shop', 'Alice'],
    ['fabrikam', 'wildcard', 'Bob'],
  ]);
  for (const [tenant, certificateId, challenge] of [['contoso', 'shop', 'http-01'], ['fabrikam', 'wildcard', 'dns-01']]) {
    const issued = (await runtime.deps.audit.list(tenant)).filter((r) => r.kind === 'certificate.issued' && r.data.certificateId === certificateId);
    expect(issued).toHaveLength(1);
    expect(issued[0].data).toMatchObject({ issuer: 'acme', ca: pebble.directoryUrl, challenge, reason: 'Expired' });
    expect(issued[0].data.durationMs).toEqual(expect.any(Number));
    expect((await runtime.deps.audit.verify(tenant)).ok).toBe(true);
  }
});

it('When one certificate cannot be validated, then it alone fails, with the CA\'s words, and its old certificate stays', async () => {
  const failures = outbox().filter((n) => n.kind === 'rotation-failed' && n.tenantId === 'contoso');
  expect(failures.map((n) => [n.subject.certificateId, n.to.name])).toEqual([['broken', 'On-call']]);
  expect(failures[0].text).toMatch(/^issuance failed: .*refused by the CA: .*broken\.contoso\.test.*urn:ietf:params:acme:error:/);
  expect(createHash('sha256').update((await served('broken')).raw).digest('hex')).toBe(before.get('broken'));
});

it('When a client domain has not delegated its challenge record, then the endpoint carries a finding naming the CNAME to create, and a delegated one does not', async () => {
  const finding = (await runtime.deps.store.listObservations('northwind'))[0].findings.find((f) => f.code === 'dns01-unavailable');
  expect(finding?.message).toMatch(/create CNAME _acme-challenge\.www\.northwind\.test → www\.northwind\.test\.acme\.msp\.test/);
  expect((await runtime.deps.store.listObservations('fabrikam'))[0].findings.map((f) => f.code)).not.toContain('dns01-unavailable');
  expect(outbox().filter((n) => n.tenantId === 'northwind').map((n) => n.kind)).toEqual(['rotation-failed']);
});

it('When the next sweep finds the ACME certificates healthy and trusted, then nothing is renewed again and nobody is told again', async () => {
  const sent = outbox().length;
  await runtime.pipeline.sweep({ reason: 'acme e2e, second look' });
  expect(outbox()).toHaveLength(sent); // the broken one fails again: the same failure state, not told twice
  for (const [tenant, endpoint] of [['contoso', 'shop.contoso.test'], ['fabrikam', 'portal.fabrikam.test']]) {
    const rows = (await runtime.deps.store.listObservations(tenant)).filter((r) => r.host === endpoint);
    expect(rows.map((r) => [r.status, r.findings.map((f) => f.code)])).toEqual([['healthy', []]]);
  }
  const issuedShop = (await runtime.deps.audit.list('contoso')).filter((r) => r.kind === 'certificate.issued' && r.data.certificateId === 'shop');
  expect(issuedShop).toHaveLength(1);
  expect(await runtime.bus.deadLetters()).toEqual([]);
});
