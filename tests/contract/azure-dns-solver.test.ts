/**
 * AzureDnsSolver against a local HTTPS stub of the Azure DNS record-set API (2018-05-01), which
 * mirrors its TXT sets into pebble-challtestsrv: a real ACME CA (Pebble) then validates the
 * DNS-01 records the solver wrote "in Azure".
 */
import { X509Certificate } from 'node:crypto';
import { PermanentError, RetryableError } from '../../shared/domain/errors';
import { AcmeIssuer } from '../../shared/adapters/acme/acme-issuer';
import { AZURE_DNS_API_VERSION, AzureDnsSolver, relativeRecordName, type AzureDnsSolverOptions } from '../../shared/adapters/acme/azure-dns-solver';
import { startPebble, type PebbleHandle } from '../../shared/demo/pebble-lab';
import { aDns01Issuer, aRequestFor } from '../support/acme-builders';
import { startAzureDnsStub, type AzureDnsStub } from '../support/azure-dns-stub';

jest.setTimeout(30_000);

const SUBSCRIPTION = '00000000-1111-2222-3333-444444444444';
const RESOURCE_GROUP = 'rg-dns';
const ZONE = 'azure.test';
const TOKEN = 'test-arm-token';
const RECORD_SETS_PATH = `/subscriptions/${SUBSCRIPTION}/resourceGroups/${RESOURCE_GROUP}/providers/Microsoft.Network/dnsZones/${ZONE}/TXT`;

let pebble: PebbleHandle;
let stub: AzureDnsStub;

beforeAll(async () => {
  pebble = await startPebble();
  stub = await startAzureDnsStub({ subscriptionId: SUBSCRIPTION, resourceGroup: RESOURCE_GROUP, zones: [ZONE], token: TOKEN, challtestsrvUrl: pebble.dns.managementUrl });
});
afterAll(async () => {
  await stub?.close();
  await pebble?.stop();
});
beforeEach(() => stub.requests.splice(0));

function aSolver(overrides: Partial<AzureDnsSolverOptions> = {}): AzureDnsSolver {
  return new AzureDnsSolver({
    armBaseUrl: stub.url,
    subscriptionId: SUBSCRIPTION,
    resourceGroup: RESOURCE_GROUP,
    zoneName: ZONE,
    getToken: async () => TOKEN,
    tlsCa: stub.caPem,
    ...overrides,
  });
}

function anIssuer(dns: AzureDnsSolver): AcmeIssuer {
  return aDns01Issuer(pebble, dns);
}

const aRequest = aRequestFor;

function sans(certificatePem: string): string[] {
  return (new X509Certificate(certificatePem).subjectAltName ?? '').split(', ').map((s) => s.replace(/^DNS:/, '')).sort();
}

async function expectIssuedByPebble(certificatePem: string, chainPem: string): Promise<void> {
  const chain = chainPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)!.map((p) => new X509Certificate(p));
  const path = [new X509Certificate(certificatePem), ...chain];
  for (let i = 0; i < path.length - 1; i++) expect(path[i].verify(path[i + 1].publicKey)).toBe(true);
  expect(path[path.length - 1].verify(new X509Certificate(await pebble.rootPem()).publicKey)).toBe(true);
}

describe('AzureDnsSolver with Pebble validating through the stub', () => {
  it('When a certificate is ordered with DNS-01 over Azure DNS, then Pebble validates the TXT set the stub holds and the set is deleted afterwards', async () => {
    const started = performance.now();
    const issued = await anIssuer(aSolver()).issue(aRequest(['www.azure.test']));
    const elapsedMs = performance.now() - started;

    expect(sans(issued.certificatePem)).toEqual(['www.azure.test']);
    await expectIssuedByPebble(issued.certificatePem, issued.chainPem);
    expect(stub.requests.map((r) => `${r.method} ${r.path.slice(RECORD_SETS_PATH.length + 1)}`)).toEqual([
      'GET _acme-challenge.www', 'PUT _acme-challenge.www', 'GET _acme-challenge.www', 'DELETE _acme-challenge.www',
    ]);
    expect(stub.txt(ZONE, '_acme-challenge.www')).toBeUndefined();
    expect(elapsedMs).toBeLessThan(10_000);
  });

  it('When a wildcard and its base name are ordered, then both values share one record set and cleanup leaves none', async () => {
    const solver = aSolver();
    const issued = await anIssuer(solver).issue(aRequest(['*.wild.azure.test', 'wild.azure.test']));

    expect(sans(issued.certificatePem)).toEqual(['*.wild.azure.test', 'wild.azure.test']);
    await expectIssuedByPebble(issued.certificatePem, issued.chainPem);
    expect(stub.txt(ZONE, '_acme-challenge.wild')).toBeUndefined();
  });
});

describe('AzureDnsSolver record-set semantics', () => {
  it('When two values are presented at one name and removed one by one, then the set holds both, then one, then is deleted', async () => {
    const solver = aSolver();
    const record = (value: string) => ({ fqdn: '_acme-challenge.shared.azure.test.', value });

    await solver.present(record('value-a'));
    await solver.present(record('value-b'));
    await solver.present(record('value-b'));
    expect(stub.txt(ZONE, '_acme-challenge.shared')).toEqual(['value-a', 'value-b']);

    await solver.cleanup(record('value-a'));
    expect(stub.txt(ZONE, '_acme-challenge.shared')).toEqual(['value-b']);

    await solver.cleanup(record('value-b'));
    await solver.cleanup(record('value-b'));
    expect(stub.txt(ZONE, '_acme-challenge.shared')).toBeUndefined();
  });

  it('When wildcard and base presents run concurrently, then neither value is lost', async () => {
    const solver = aSolver();
    const fqdn = '_acme-challenge.race.azure.test';

    await Promise.all([solver.present({ fqdn, value: 'one' }), solver.present({ fqdn, value: 'two' })]);

    expect(stub.txt(ZONE, '_acme-challenge.race')?.sort()).toEqual(['one', 'two']);
    await Promise.all([solver.cleanup({ fqdn, value: 'one' }), solver.cleanup({ fqdn, value: 'two' })]);
    expect(stub.txt(ZONE, '_acme-challenge.race')).toBeUndefined();
  });

  it('When a record is presented, then the stub sees the exact method, path, api-version, bearer token, conditional header and body', async () => {
    await aSolver().present({ fqdn: '_acme-challenge.exact.azure.test', value: 'the-digest' });

    const put = stub.requests.find((r) => r.method === 'PUT')!;
    expect(put).toEqual({
      method: 'PUT',
      path: `${RECORD_SETS_PATH}/_acme-challenge.exact`,
      apiVersion: AZURE_DNS_API_VERSION,
      authorization: `Bearer ${TOKEN}`,
      ifMatch: undefined,
      ifNoneMatch: '*',
      body: { properties: { TTL: 60, TXTRecords: [{ value: ['the-digest'] }] } },
    });
    expect(AZURE_DNS_API_VERSION).toBe('2018-05-01');
    await aSolver().present({ fqdn: '_acme-challenge.exact.azure.test', value: 'second' });
    expect(stub.requests.filter((r) => r.method === 'PUT')[1].ifMatch).toEqual(expect.any(String));
  });

  it.each([
    { fqdn: '_acme-challenge.www.azure.test', zone: 'azure.test', expected: '_acme-challenge.www' },
    { fqdn: '_ACME-Challenge.WWW.Azure.Test.', zone: 'azure.test.', expected: '_acme-challenge.www' },
    { fqdn: 'azure.test', zone: 'azure.test', expected: '@' },
  ])('When $fqdn is written in zone $zone, then the record-set name is $expected', ({ fqdn, zone, expected }) => {
    expect(relativeRecordName(fqdn, zone)).toBe(expected);
  });

  it('When the name is outside the zone, then it is refused before any request', async () => {
    await expect(aSolver().present({ fqdn: '_acme-challenge.www.notazure.test', value: 'v' })).rejects.toThrow(PermanentError);
    expect(stub.requests).toEqual([]);
  });
});

describe('AzureDnsSolver failures', () => {
  it.each([
    {
      case: 'the token is refused', overrides: { getToken: async () => 'expired-token' }, fqdn: '_acme-challenge.www.azure.test',
      says: /401 InvalidAuthenticationToken.*"DNS Zone Contributor" on zone azure\.test/,
    },
    {
      case: 'the zone does not exist', overrides: { zoneName: 'missing.test' }, fqdn: '_acme-challenge.www.missing.test',
      says: /zone missing\.test not found in resource group rg-dns.*ParentResourceNotFound/,
    },
  ])('When $case, then present fails permanently saying what to fix', async ({ overrides, fqdn, says }) => {
    const failure = await aSolver(overrides).present({ fqdn, value: 'v' }).catch((e: unknown) => e);

    expect(failure).toBeInstanceOf(PermanentError);
    expect((failure as Error).message).toMatch(says);
    expect((failure as Error).message).not.toContain('expired-token');
  });

  it.each([
    { status: 503, says: /answered 503 ServiceUnavailable.*Retry-After 1/ },
    { status: 429, says: /answered 429 TooManyRequests/ },
  ])('When the API answers $status, then present fails as retryable and the next attempt succeeds', async ({ status, says }) => {
    stub.failNext(status);
    const solver = aSolver();

    const failure = await solver.present({ fqdn: '_acme-challenge.flaky.azure.test', value: 'v' }).catch((e: unknown) => e);

    expect(failure).toBeInstanceOf(RetryableError);
    expect((failure as Error).message).toMatch(says);
    await solver.present({ fqdn: '_acme-challenge.flaky.azure.test', value: 'v' });
    expect(stub.txt(ZONE, '_acme-challenge.flaky')).toEqual(['v']);
    await solver.cleanup({ fqdn: '_acme-challenge.flaky.azure.test', value: 'v' });
  });

  it('When the API is unreachable, then present fails as retryable; when aborted, with the signal reason', async () => {
    const unreachable = aSolver({ armBaseUrl: 'https://127.0.0.1:1' });

    await expect(unreachable.present({ fqdn: '_acme-challenge.x.azure.test', value: 'v' })).rejects.toThrow(RetryableError);
    await expect(aSolver().present({ fqdn: '_acme-challenge.x.azure.test', value: 'v' }, { abortSignal: AbortSignal.abort(new Error('shutting down')) })).rejects.toThrow('shutting down');
  });

  it('When the stub CA is not trusted, then the TLS failure is retryable and no token is sent', async () => {
    await expect(aSolver({ tlsCa: undefined }).present({ fqdn: '_acme-challenge.x.azure.test', value: 'v' })).rejects.toThrow(/Azure DNS GET .* failed: .*certificate/);
    expect(stub.requests).toEqual([]);
  });
});
