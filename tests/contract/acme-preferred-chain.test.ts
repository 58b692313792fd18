/**
 * Preferred chain (RFC 8555 §7.4.2): Pebble started with PEBBLE_ALTERNATE_ROOTS=1 signs every
 * certificate under one intermediate name cross-signed by two roots, and offers the second chain
 * through a Link rel="alternate" header. The roots' names carry a random suffix per start, so
 * they are read from Pebble's management API (/roots/0 is the default chain's root, /roots/1 the
 * alternate's).
 */
import { X509Certificate } from 'node:crypto';
import https from 'node:https';
import { fixedClock } from '../../shared/domain/clock';
import type { CertificateRequest, IssuedCertificate } from '../../shared/ports/issuer';
import { AcmeIssuer } from '../../shared/adapters/acme/acme-issuer';
import { MemoryHttpResponder } from '../../shared/adapters/acme/memory-http-responder';
import { startPebble, type PebbleHandle } from '../../shared/demo/pebble-lab';
import { InMemoryKeyStore } from '../support/in-memory-key-store';

jest.setTimeout(30_000);

let pebble: PebbleHandle;
let responder: MemoryHttpResponder;
/** Pebble's roots by index: 0 tops the default chain, 1 the alternate one. */
const roots: X509Certificate[] = [];

beforeAll(async () => {
  pebble = await startPebble({ env: { PEBBLE_ALTERNATE_ROOTS: '1' } });
  responder = new MemoryHttpResponder({ port: pebble.httpChallengePort });
  await responder.listen();
  for (const index of [0, 1]) roots.push(new X509Certificate(await managementGet(`/roots/${index}`)));
  await pebble.dns.addA('www.contoso.test');
});

afterAll(async () => {
  await responder?.close();
  await pebble?.stop();
});

function managementGet(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    https.get(`${pebble.managementUrl}${path}`, { agent: pebble.agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`${path}: ${res.statusCode} ${body}`))));
    }).on('error', reject);
  });
}

function commonName(dn: string): string {
  return /CN=([^\n,]+)/.exec(dn)?.[1] ?? '';
}

function aRequest(): CertificateRequest {
  return { tenantId: 'contoso', certificateId: 'web', commonName: 'www.contoso.test', dnsNames: ['www.contoso.test'], ipAddresses: [], keyType: 'ec-p256', validityDays: 90 };
}

function anIssuer(preferredChain: string | undefined): AcmeIssuer {
  return new AcmeIssuer({
    directoryUrl: pebble.directoryUrl,
    keyStore: new InMemoryKeyStore(),
    clock: fixedClock('2031-01-01T00:00:00Z'),
    challenge: 'http-01',
    http: responder,
    tlsCa: pebble.tlsCaPem,
    pollBackoff: { minMs: 50, maxMs: 500, attempts: 40 },
    preferredChain,
  });
}

/** The index of the Pebble root the returned chain verifies to (the path is checked link by link). */
function rootIndexOf(issued: IssuedCertificate): number {
  const chain = issued.chainPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)!.map((p) => new X509Certificate(p));
  const path = [new X509Certificate(issued.certificatePem), ...chain];
  for (let i = 0; i < path.length - 1; i++) expect(path[i].verify(path[i + 1].publicKey)).toBe(true);
  const top = path[path.length - 1];
  const matching = roots.map((root, index) => (top.verify(root.publicKey) ? index : -1)).filter((index) => index >= 0);
  expect(matching).toHaveLength(1);
  expect(commonName(top.issuer)).toBe(commonName(roots[matching[0]].subject));
  return matching[0];
}

it('When Pebble runs with an alternate root, then its two roots have distinct names (the premise of the cases below)', () => {
  expect(commonName(roots[0].subject)).toMatch(/^Pebble Root CA /);
  expect(commonName(roots[1].subject)).not.toBe(commonName(roots[0].subject));
});

it.each([
  { name: 'no chain is preferred', preferred: () => undefined, expectedRoot: 0 },
  { name: "the alternate root's name is preferred", preferred: () => commonName(roots[1].subject), expectedRoot: 1 },
  { name: "the default root's name is preferred", preferred: () => commonName(roots[0].subject), expectedRoot: 0 },
  { name: 'an unknown name is preferred', preferred: () => 'No Such Root CA', expectedRoot: 0 },
])('When $name, then the chain returned ends under root $expectedRoot', async ({ preferred, expectedRoot }) => {
  const issued = await anIssuer(preferred()).issue(aRequest());

  expect(rootIndexOf(issued)).toBe(expectedRoot);
});
