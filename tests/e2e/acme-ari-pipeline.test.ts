/**
 * The pipeline follows the CA's renewal window (ACME Renewal Information, RFC 9773): a healthy
 * certificate whose window lies ahead is left alone; when the CA moves the window into the past
 * (its signal of a coming revocation), the next poll renews it at once and the new order names
 * the certificate it replaces. A certificate certops only discovered is watched too: when its CA
 * moves its window earlier, the endpoint carries a finding. Pebble behind
 * tests/support/acme-front.ts, an RFC 9773 stand-in (Debian's Pebble 2.4 predates ARI).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { createEmbeddedRuntime, type EmbeddedRuntime } from '../../shared/composition-root';
import { aTestConfig } from '../support/config-builders';
import { ariCertId } from '../../shared/domain/ari';
import { fixedClock, MS_PER_DAY, MS_PER_HOUR, type FixedClock } from '../../shared/domain/clock';
import { TlsFleet } from '../../shared/demo/tls-fleet';
import { startPebble, type PebbleHandle } from '../../shared/demo/pebble-lab';
import { createLogger } from '../../shared/observability/logger';
import { StaticResolver } from '../../shared/adapters/tls/system-resolver';
import { TlsProber } from '../../shared/adapters/tls/tls-prober';
import { startAcmeFront, type AcmeFront } from '../support/acme-front';
import { aCA, aCertificate } from '../support/x509-builders';
import { aDns01Issuer, aRequestFor } from '../support/acme-builders';
import { ChalltestsrvDnsSolver } from '../../shared/adapters/acme/challtestsrv-dns-solver';
import { parsePemBundle } from '../../shared/domain/certificate';

jest.setTimeout(90_000);

let dir: string;
let pebble: PebbleHandle;
let front: AcmeFront;
let fleet: TlsFleet;
let runtime: EmbeddedRuntime;
let clock: FixedClock;
let blogCertId: string;

async function servedDer(): Promise<Buffer> {
  const { address, port } = fleet.endpoint('shop');
  const r = await new TlsProber().probe({ address, port, connectTimeoutMs: 1000, handshakeTimeoutMs: 2000 });
  if (!r.ok) throw new Error(r.error.message);
  return r.chain[0];
}

const issuedKinds = async () => (await runtime.deps.audit.list('contoso')).filter((r) => r.kind === 'certificate.issued');

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'certops-ari-'));
  pebble = await startPebble({ env: { PEBBLE_VA_NOSLEEP: '1', PEBBLE_AUTHZREUSE: '0', PEBBLE_WFE_NONCEREJECT: '0' } });
  front = await startAcmeFront(pebble, { ari: true });
  writeFileSync(path.join(dir, 'front-tls.pem'), front.tlsCaPem);
  writeFileSync(path.join(dir, 'pebble-root.pem'), await pebble.rootPem());
  const ca = await aCA();
  const leaf = await aCertificate({ daysLeft: -30, dnsNames: ['shop.contoso.test'], issuer: ca });
  mkdirSync(path.join(dir, 'shop'));
  const files = { certFile: path.join(dir, 'shop', 'cert.pem'), keyFile: path.join(dir, 'shop', 'key.pem') };
  writeFileSync(files.certFile, leaf.pem + ca.pem);
  writeFileSync(files.keyFile, leaf.key.privateKeyPem, { mode: 0o600 });
  // blog.contoso.test: not managed by certops; its certificate came from the same CA.
  const blogIssuer = aDns01Issuer(pebble, new ChalltestsrvDnsSolver(pebble.dns.managementUrl), { directoryUrl: front.directoryUrl, tlsCa: front.tlsCaPem });
  const blog = await blogIssuer.issue(aRequestFor(['blog.contoso.test']));
  mkdirSync(path.join(dir, 'blog'));
  const blogFiles = { certFile: path.join(dir, 'blog', 'cert.pem'), keyFile: path.join(dir, 'blog', 'key.pem') };
  writeFileSync(blogFiles.certFile, blog.certificatePem + blog.chainPem);
  writeFileSync(blogFiles.keyFile, blog.privateKeyPem, { mode: 0o600 });
  blogCertId = ariCertId(parsePemBundle(blog.certificatePem)[0].der);
  fleet = await TlsFleet.start([{ name: 'shop', ...files }, { name: 'blog', ...blogFiles }]);

  const config = aTestConfig(dir, {
    tenants: [
      {
        id: 'contoso',
        assignee: { name: 'Alice' },
        trustedCaFiles: [path.join(dir, 'pebble-root.pem')],
        acme: { directoryUrl: front.directoryUrl, challenge: 'http-01', directoryCaFile: path.join(dir, 'front-tls.pem'), http01: { listenPort: pebble.httpChallengePort } },
        endpoints: [
          { host: 'shop.contoso.test', port: fleet.endpoint('shop').port, managed: 'shop' },
          { host: 'blog.contoso.test', port: fleet.endpoint('blog').port },
        ],
        managedCertificates: [{ id: 'shop', dnsNames: ['shop.contoso.test'], issuer: 'acme', target: { type: 'files', ...files, reload: { url: fleet.reloadUrl('shop') } } }],
      },
    ],
  });
  clock = fixedClock(new Date());
  runtime = createEmbeddedRuntime(config, {
    logger: createLogger({ level: 'silent' }),
    clock,
    consoleStream: null,
    resolver: new StaticResolver({ 'shop.contoso.test': ['127.0.0.1'], 'blog.contoso.test': ['127.0.0.1'] }),
  });
  runtime.pipeline.start();
});

afterAll(async () => {
  await runtime?.close();
  await fleet?.close();
  await front?.close();
  await pebble?.stop();
  rmSync(dir, { recursive: true, force: true });
});

it('When an expired certificate from another CA is renewed, then no `replaces` is sent (that CA never answered for it)', async () => {
  await runtime.pipeline.sweep({ reason: 'first' });
  expect(front.newOrders.map((o) => o.replaces)).toEqual([undefined, undefined]); // blog's own order, then shop's
  expect(new X509Certificate(await servedDer()).issuer).toMatch(/Pebble Intermediate CA/);
});

it('When the CA\'s window for the new certificate lies ahead, then the next sweep asks the CA and renews nothing', async () => {
  const certId = ariCertId(await servedDer());
  await runtime.pipeline.sweep({ reason: 'second' });
  expect(front.renewalInfoRequests).toContain(`/renewal-info/${certId}`);
  expect(front.newOrders).toHaveLength(2);
  expect(await issuedKinds()).toHaveLength(1);
});

it('When the CA moves the window into the past, then the next poll renews at once and the order names the certificate it replaces', async () => {
  const certId = ariCertId(await servedDer());
  const now = clock.now().getTime();
  front.setWindow(certId, { start: new Date(now - 2 * MS_PER_DAY), end: new Date(now - MS_PER_DAY) });
  clock.advance(7 * MS_PER_HOUR); // past the Retry-After (6 h) of the window it had fetched
  await runtime.pipeline.sweep({ reason: 'third' });
  expect(front.newOrders.map((o) => o.replaces)).toEqual([undefined, undefined, certId]);
  const issued = await issuedKinds();
  expect(issued).toHaveLength(2);
  expect(issued[1].data.reason).toBe('ARI:WindowPassed');
  expect(ariCertId(await servedDer())).not.toBe(certId);
});

it('When the CA moves the window of a certificate certops only discovered earlier, then that endpoint carries a finding, and certops does not renew it', async () => {
  const blogRow = async () => (await runtime.deps.store.listObservations('contoso')).find((r) => r.host === 'blog.contoso.test')!;
  expect((await blogRow()).findings.map((f) => f.code)).not.toContain('ari-window-moved-earlier');
  const now = clock.now().getTime();
  front.setWindow(blogCertId, { start: new Date(now - 2 * MS_PER_DAY), end: new Date(now - MS_PER_DAY) });
  clock.advance(7 * MS_PER_HOUR);
  const orders = front.newOrders.length;
  await runtime.pipeline.sweep({ reason: 'fourth' });
  const found = (await blogRow()).findings.find((f) => f.code === 'ari-window-moved-earlier');
  expect(found?.message).toMatch(/moved the renewal window of the certificate on blog\.contoso\.test:\d+ earlier/);
  expect(found?.detail).toMatchObject({ certId: blogCertId });
  expect(front.newOrders).toHaveLength(orders);
});
