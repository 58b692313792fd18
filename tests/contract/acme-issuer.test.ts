/**
 * AcmeIssuer against a real ACME CA: Pebble and pebble-challtestsrv (Debian package `pebble`),
 * started by this suite on free loopback ports. HTTP-01 is served by MemoryHttpResponder on the
 * port Pebble dials; DNS-01 records are real TXT records in challtestsrv, queried by Pebble.
 */
import { X509Certificate, createPublicKey, createPrivateKey } from 'node:crypto';
import * as acme from 'acme-client';
import { fixedClock } from '../../shared/domain/clock';
import { PermanentError, RetryableError } from '../../shared/domain/errors';
import type { DnsChallengeRecord, DnsSolver } from '../../shared/ports/dns-solver';
import type { IssuedCertificate } from '../../shared/ports/issuer';
import { AcmeIssuer, type AcmeIssuerOptions } from '../../shared/adapters/acme/acme-issuer';
import { ChalltestsrvDnsSolver } from '../../shared/adapters/acme/challtestsrv-dns-solver';
import { MemoryHttpResponder } from '../../shared/adapters/acme/memory-http-responder';
import { startPebble, type PebbleHandle } from '../../shared/demo/pebble-lab';
import { InMemoryKeyStore } from '../support/in-memory-key-store';
import { aCertificateRequest } from '../support/issuer-builders';

jest.setTimeout(30_000);

const afterTest: Array<() => void> = [];
afterEach(() => afterTest.splice(0).forEach((undo) => undo()));

/** Wraps a solver to record the calls and, optionally, publish a wrong value. */
class RecordingDnsSolver implements DnsSolver {
  readonly calls: string[] = [];
  constructor(private readonly inner: DnsSolver, private readonly corrupt = false) {}
  async present(record: DnsChallengeRecord): Promise<void> {
    this.calls.push(`present ${record.fqdn}`);
    await this.inner.present(this.corrupt ? { ...record, value: 'not-the-key-authorization-digest' } : record);
  }
  async cleanup(record: DnsChallengeRecord): Promise<void> {
    this.calls.push(`cleanup ${record.fqdn}`);
    await this.inner.cleanup(record);
  }
}

interface LogLine {
  obj: object;
  msg: string;
}

const aRequest = aCertificateRequest;

/** Pebble validates in milliseconds with PEBBLE_VA_NOSLEEP; acme-client's 5 s default would dominate. */
const FAST_POLL = { minMs: 50, maxMs: 500, attempts: 40 };

function anIssuer(pebble: PebbleHandle, overrides: Partial<AcmeIssuerOptions> & { logs?: LogLine[] } = {}): AcmeIssuer {
  const logs = overrides.logs ?? [];
  return new AcmeIssuer({
    directoryUrl: pebble.directoryUrl,
    keyStore: new InMemoryKeyStore(),
    clock: fixedClock('2031-01-01T00:00:00Z'),
    challenge: 'http-01',
    tlsCa: pebble.tlsCaPem,
    pollBackoff: FAST_POLL,
    sleep: (ms) => new Promise((r) => setTimeout(r, Math.min(ms, 50))),
    logger: { info: (obj, msg) => logs.push({ obj, msg }), warn: (obj, msg) => logs.push({ obj, msg }) },
    ...overrides,
  });
}

/** Asserts the leaf chains through the returned intermediates to Pebble's current root and matches its key. */
async function expectChainsToPebbleRoot(issued: IssuedCertificate, pebble: PebbleHandle): Promise<void> {
  const leaf = new X509Certificate(issued.certificatePem);
  const chain = issued.chainPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)!.map((p) => new X509Certificate(p));
  const root = new X509Certificate(await pebble.rootPem());
  const path = [leaf, ...chain];
  for (let i = 0; i < path.length - 1; i++) expect(path[i].verify(path[i + 1].publicKey)).toBe(true);
  expect(path[path.length - 1].verify(root.publicKey)).toBe(true);
  const publicFromPrivate = createPublicKey(createPrivateKey(issued.privateKeyPem)).export({ format: 'der', type: 'spki' });
  expect(Buffer.compare(publicFromPrivate, leaf.publicKey.export({ format: 'der', type: 'spki' }))).toBe(0);
  expect(issued.fingerprintSha256).toBe(leaf.fingerprint256.replace(/:/g, '').toLowerCase());
  expect(issued.notAfter).toBe(new Date(leaf.validTo).toISOString());
}

function sans(issued: IssuedCertificate): string[] {
  return (new X509Certificate(issued.certificatePem).subjectAltName ?? '').split(', ').map((s) => s.replace(/^DNS:/, '')).sort();
}

describe('AcmeIssuer against Pebble', () => {
  let pebble: PebbleHandle;
  let responder: MemoryHttpResponder;

  beforeAll(async () => {
    pebble = await startPebble();
    responder = new MemoryHttpResponder({ port: pebble.httpChallengePort });
    await responder.listen();
  });
  afterAll(async () => {
    await responder?.close();
    await pebble?.stop();
  });

  it.each([
    { keyType: 'ec-p256' as const, keyTypeName: 'ec' },
    { keyType: 'rsa-2048' as const, keyTypeName: 'rsa' },
  ])('When a $keyType certificate is ordered with HTTP-01, then Pebble validates the served token and the leaf chains to its root', async ({ keyType, keyTypeName }) => {
    await pebble.dns.addA('www.contoso.test');
    const issued = await anIssuer(pebble, { http: responder }).issue(aRequest({ keyType }));

    expect(sans(issued)).toEqual(['www.contoso.test']);
    expect(createPrivateKey(issued.privateKeyPem).asymmetricKeyType).toBe(keyTypeName);
    await expectChainsToPebbleRoot(issued, pebble);
    expect(responder.presentedCount).toBe(0);
  });

  it('When a certificate is ordered with DNS-01, then the TXT record is published in challtestsrv, validated and removed', async () => {
    const dns = new RecordingDnsSolver(new ChalltestsrvDnsSolver(pebble.dns.managementUrl));
    const issued = await anIssuer(pebble, { challenge: 'dns-01', dns }).issue(aRequest({ dnsNames: ['api.contoso.test', 'contoso.test'] }));

    expect(sans(issued)).toEqual(['api.contoso.test', 'contoso.test']);
    expect([...dns.calls].sort()).toEqual([
      'cleanup _acme-challenge.api.contoso.test',
      'cleanup _acme-challenge.contoso.test',
      'present _acme-challenge.api.contoso.test',
      'present _acme-challenge.contoso.test',
    ]);
    await expectChainsToPebbleRoot(issued, pebble);
  });

  it('When a wildcard and its base name are ordered with DNS-01, then both are validated and certified', async () => {
    const dns = new ChalltestsrvDnsSolver(pebble.dns.managementUrl);
    const issued = await anIssuer(pebble, { challenge: 'dns-01', dns }).issue(aRequest({ commonName: 'fabrikam.test', dnsNames: ['*.fabrikam.test', 'fabrikam.test'] }));

    expect(sans(issued)).toEqual(['*.fabrikam.test', 'fabrikam.test']);
    await expectChainsToPebbleRoot(issued, pebble);
  });

  it('When a wildcard is asked of an HTTP-01 issuer, then it fails permanently before contacting the CA', async () => {
    const issuer = anIssuer(pebble, { http: responder, directoryUrl: 'https://localhost:1/dir' });

    await expect(issuer.issue(aRequest({ dnsNames: ['*.contoso.test'] }))).rejects.toThrow(/wildcard names \*\.contoso\.test need dns-01/);
  });

  it('When the CA cannot be reached, then issuance fails as retryable after the transient retries, and an aborted issuance stops', async () => {
    const logs: LogLine[] = [];
    const issuer = anIssuer(pebble, { http: responder, directoryUrl: 'https://localhost:1/dir', logs });

    const error = await issuer.issue(aRequest()).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(RetryableError);
    expect((error as Error).message).toMatch(/ECONNREFUSED.*it will be retried/);
    expect(logs.filter((l) => l.msg === 'acme issuance retried')).toHaveLength(2);
    await expect(issuer.issue(aRequest(), { abortSignal: AbortSignal.abort(new Error('shutting down')) })).rejects.toThrow('shutting down');
  });

  it('When the published TXT value is wrong, then issuance fails permanently with the CA problem detail and the record is still cleaned up', async () => {
    const dns = new RecordingDnsSolver(new ChalltestsrvDnsSolver(pebble.dns.managementUrl), true);
    const error = await anIssuer(pebble, { challenge: 'dns-01', dns }).issue(aRequest({ dnsNames: ['bad.contoso.test'] })).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(PermanentError);
    expect((error as Error).message).toMatch(/urn:ietf:params:acme:error:(unauthorized|incorrectResponse)/);
    expect((error as Error).message).toMatch(/Correct value not found for DNS challenge/i);
    expect(dns.calls).toEqual(['present _acme-challenge.bad.contoso.test', 'cleanup _acme-challenge.bad.contoso.test']);
  });

  it('When one tenant issues twice and another once, then each tenant has one account key, stored once and never logged', async () => {
    const keyStore = new InMemoryKeyStore();
    const logs: LogLine[] = [];
    const issuer = anIssuer(pebble, { http: responder, keyStore, logs });
    const host = new URL(pebble.directoryUrl).host;

    await issuer.issue(aRequest());
    await issuer.issue(aRequest({ certificateId: 'web-2' }));
    await issuer.issue(aRequest({ tenantId: 'fabrikam' }));
    // A second issuer over the same store (a restarted process) reuses the stored key.
    await anIssuer(pebble, { http: responder, keyStore }).issue(aRequest());

    // Account keys only (the issuer also records the CA's issuing key ids, for revocation).
    expect(keyStore.puts.filter((p) => p.endsWith('/account-key'))).toEqual([`contoso/acme/${host}/account-key`, `fabrikam/acme/${host}/account-key`]);
    expect(keyStore.values.get(`contoso/acme/${host}/account-key`)).not.toBe(keyStore.values.get(`fabrikam/acme/${host}/account-key`));
    expect(JSON.stringify(logs)).not.toMatch(/PRIVATE KEY/);
    expect(logs.map((l) => l.msg)).toContain('acme account key created');
  });

  it('When Pebble is restarted (its accounts forgotten), then the next issuance registers the stored key again and succeeds', async () => {
    const keyStore = new InMemoryKeyStore();
    const issuer = anIssuer(pebble, { http: responder, keyStore });
    await issuer.issue(aRequest());
    await pebble.restart();

    const issued = await issuer.issue(aRequest());

    await expectChainsToPebbleRoot(issued, pebble);
    expect(keyStore.puts.filter((p) => p.endsWith('/account-key'))).toHaveLength(1);
  });
});

describe('AcmeIssuer against Pebble requiring External Account Binding', () => {
  let pebble: PebbleHandle;
  let responder: MemoryHttpResponder;

  beforeAll(async () => {
    pebble = await startPebble({ eab: true });
    responder = new MemoryHttpResponder({ port: pebble.httpChallengePort });
    await responder.listen();
  });
  afterAll(async () => {
    await responder?.close();
    await pebble?.stop();
  });

  it('When the EAB credentials are right, then the account is bound and a certificate issued', async () => {
    const issued = await anIssuer(pebble, { http: responder, eab: pebble.eab }).issue(aRequest());

    await expectChainsToPebbleRoot(issued, pebble);
  });

  it.each([
    {
      name: 'the HMAC key is wrong',
      eab: { kid: 'kid-1', hmacKey: 'b10lLJs8l1GPIzsLP0s6pMt8O0XVGnfTaCeROxQM0BIt2XrJMDHJZBM5NuQmQJQH' },
      expected: /refused by the CA: external account binding JWS verification error.*check the tenant's External Account Binding kid and HMAC key/,
    },
    { name: 'no EAB is configured', eab: undefined, expected: /refused by the CA: .*externalAccountRequired.*check the tenant's External Account Binding/ },
  ])('When $name, then issuance fails permanently saying so', async ({ eab, expected }) => {
    const error = await anIssuer(pebble, { http: responder, eab }).issue(aRequest()).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(PermanentError);
    expect((error as Error).message).toMatch(expected);
  });
});

describe('AcmeIssuer against Pebble rejecting 30% of nonces', () => {
  let pebble: PebbleHandle;
  let responder: MemoryHttpResponder;

  beforeAll(async () => {
    pebble = await startPebble({ env: { PEBBLE_WFE_NONCEREJECT: '30' } });
    responder = new MemoryHttpResponder({ port: pebble.httpChallengePort });
    await responder.listen();
  });
  afterAll(async () => {
    await responder?.close();
    await pebble?.stop();
  });

  it('When badNonce errors storm, then every issuance still succeeds', async () => {
    let badNonces = 0;
    const counter = acme.axios.interceptors.response.use((response) => {
      if ((response.data as { type?: string } | undefined)?.type === 'urn:ietf:params:acme:error:badNonce') badNonces++;
      return response;
    });
    afterTest.push(() => acme.axios.interceptors.response.eject(counter));
    const logs: LogLine[] = [];
    const issuer = anIssuer(pebble, { http: responder, logs });
    const results = await Promise.all(
      Array.from({ length: 5 }, (_, i) => issuer.issue(aRequest({ certificateId: `storm-${i}`, dnsNames: [`storm-${i}.contoso.test`] }))),
    );

    for (const issued of results) await expectChainsToPebbleRoot(issued, pebble);
    // acme-client retries badNonce inside a request; whole attempts should not be needed.
    expect(logs.filter((l) => l.msg === 'acme issuance retried')).toEqual([]);
    expect(badNonces).toBeGreaterThan(0);
  });
});
