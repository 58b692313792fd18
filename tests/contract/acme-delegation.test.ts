/**
 * DNS-01 through CNAME delegation, against a real ACME CA: Pebble resolves TXT records through
 * pebble-challtestsrv, which answers a TXT query for a CNAME'd name with the CNAME and the
 * target's TXT records. The client zone (`client.test`) is never written; the MSP's zone
 * (`acme.msp.test`) is. Also: the CNAME lookup against challtestsrv's DNS port, and the readiness
 * decision as a table.
 */
import { X509Certificate } from 'node:crypto';
import dgram from 'node:dgram';
import { PermanentError, RetryableError } from '../../shared/domain/errors';
import { assessDns01Readiness, isWithinZones, type Dns01Observation, type Dns01Readiness } from '../../shared/domain/dns01-readiness';
import type { DnsChallengeRecord, DnsSolver } from '../../shared/ports/dns-solver';
import type { CertificateRequest } from '../../shared/ports/issuer';
import { AcmeIssuer } from '../../shared/adapters/acme/acme-issuer';
import { ChalltestsrvDnsSolver } from '../../shared/adapters/acme/challtestsrv-dns-solver';
import { DelegatingDnsSolver, delegatedRecordName } from '../../shared/adapters/acme/delegating-dns-solver';
import { DnsCnameLookup } from '../../shared/adapters/acme/dns-cname-lookup';
import { aDns01Issuer } from '../support/acme-builders';
import { startPebble, type PebbleHandle } from '../../shared/demo/pebble-lab';

jest.setTimeout(30_000);

const MSP_ZONE = 'acme.msp.test';

/** Records every write that reaches the MSP's DNS provider: the proof of where TXT records went. */
class RecordingDnsSolver implements DnsSolver {
  readonly calls: string[] = [];
  constructor(private readonly inner: DnsSolver) {}
  async present(record: DnsChallengeRecord): Promise<void> {
    this.calls.push(`present ${record.fqdn}`);
    await this.inner.present(record);
  }
  async cleanup(record: DnsChallengeRecord): Promise<void> {
    this.calls.push(`cleanup ${record.fqdn}`);
    await this.inner.cleanup(record);
  }
}

function aRequest(dnsNames: string[]): CertificateRequest {
  return {
    tenantId: 'client',
    certificateId: dnsNames[0],
    commonName: dnsNames[0],
    dnsNames,
    ipAddresses: [],
    keyType: 'ec-p256',
    validityDays: 90,
  };
}

function aDelegatingIssuer(pebble: PebbleHandle, provider: RecordingDnsSolver): AcmeIssuer {
  return aDns01Issuer(pebble, new DelegatingDnsSolver(provider, MSP_ZONE));
}

/**
 * The DNS questions challtestsrv received for `host` (its management API's request history).
 * The history is keyed by the name WITHOUT the trailing dot (with it, the answer is always empty).
 */
async function dnsQuestions(pebble: PebbleHandle, host: string): Promise<Array<{ name: string; type: number }>> {
  const res = await fetch(`${pebble.dns.managementUrl}/dns-request-history`, { method: 'POST', body: JSON.stringify({ host }) });
  const history = (await res.json()) as Array<{ Question: { Name: string; Qtype: number } }> | null;
  return (history ?? []).map((h) => ({ name: h.Question.Name, type: h.Question.Qtype }));
}

const DNS_TYPE_TXT = 16;

function sans(pem: string): string[] {
  return (new X509Certificate(pem).subjectAltName ?? '').split(', ').map((s) => s.replace(/^DNS:/, '')).sort();
}

async function expectIssuedByPebble(certificatePem: string, chainPem: string, pebble: PebbleHandle): Promise<void> {
  const path = [certificatePem, ...(chainPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [])].map((p) => new X509Certificate(p));
  path.push(new X509Certificate(await pebble.rootPem()));
  for (let i = 0; i < path.length - 1; i++) expect(path[i].verify(path[i + 1].publicKey)).toBe(true);
}

describe('DNS-01 through a CNAME delegation, against Pebble and challtestsrv', () => {
  let pebble: PebbleHandle;

  beforeAll(async () => {
    pebble = await startPebble();
  });
  afterAll(async () => {
    await pebble?.stop();
  });

  it('When _acme-challenge.shop.client.test is a CNAME into the MSP zone, then Pebble follows it and issues, while the client zone is never written', async () => {
    await pebble.dns.setCname('_acme-challenge.shop.client.test', 'shop.client.test.acme.msp.test');
    const provider = new RecordingDnsSolver(new ChalltestsrvDnsSolver(pebble.dns.managementUrl));

    const issued = await aDelegatingIssuer(pebble, provider).issue(aRequest(['shop.client.test']));

    expect(sans(issued.certificatePem)).toEqual(['shop.client.test']);
    await expectIssuedByPebble(issued.certificatePem, issued.chainPem, pebble);
    expect(provider.calls).toEqual(['present shop.client.test.acme.msp.test', 'cleanup shop.client.test.acme.msp.test']);
    // Pebble asked for TXT at the client's name (and got the CNAME's target's TXT in the answer).
    // Pebble asked challtestsrv for TXT at the client's name only (the answer carried the CNAME and the target's TXT).
    expect(await dnsQuestions(pebble, '_acme-challenge.shop.client.test')).toContainEqual({ name: '_acme-challenge.shop.client.test.', type: DNS_TYPE_TXT });
  });

  it('When a wildcard and its base name are delegated, then both authorizations are validated through the one CNAME', async () => {
    await pebble.dns.setCname('_acme-challenge.store.client.test', 'store.client.test.acme.msp.test');
    const provider = new RecordingDnsSolver(new ChalltestsrvDnsSolver(pebble.dns.managementUrl));

    const issued = await aDelegatingIssuer(pebble, provider).issue(aRequest(['*.store.client.test', 'store.client.test']));

    expect(sans(issued.certificatePem)).toEqual(['*.store.client.test', 'store.client.test']);
    await expectIssuedByPebble(issued.certificatePem, issued.chainPem, pebble);
    expect(provider.calls).toEqual([
      'present store.client.test.acme.msp.test', 'cleanup store.client.test.acme.msp.test',
      'present store.client.test.acme.msp.test', 'cleanup store.client.test.acme.msp.test',
    ]);
  });

  it('When the client has not created the CNAME, then delegated issuance fails permanently with the CA problem detail, and the MSP record is cleaned up', async () => {
    const provider = new RecordingDnsSolver(new ChalltestsrvDnsSolver(pebble.dns.managementUrl));

    const error = await aDelegatingIssuer(pebble, provider).issue(aRequest(['nocname.client.test'])).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(PermanentError);
    expect((error as Error).message).toMatch(/refused by the CA: No TXT records found for DNS challenge \(urn:ietf:params:acme:error:unauthorized\)/);
    expect(provider.calls).toEqual(['present nocname.client.test.acme.msp.test', 'cleanup nocname.client.test.acme.msp.test']);
  });

  it('When the CNAME lookup asks challtestsrv, then it finds the delegation target, null without one, and the wildcard as its base', async () => {
    await pebble.dns.setCname('_acme-challenge.lookup.client.test', 'lookup.client.test.acme.msp.test');
    const lookup = new DnsCnameLookup([`127.0.0.1:${pebble.dnsPort}`]);

    expect(await lookup.challengeCname('lookup.client.test')).toBe('lookup.client.test.acme.msp.test');
    expect(await lookup.challengeCname('*.Lookup.Client.Test.')).toBe('lookup.client.test.acme.msp.test');
    expect(await lookup.challengeCname('plain.client.test')).toBeNull();
  });

  it('When the looked-up CNAME and the MSP zones feed the readiness decision, then a delegated domain is delegated and an undelegated one unavailable', async () => {
    await pebble.dns.setCname('_acme-challenge.ready.client.test', 'ready.client.test.acme.msp.test');
    const lookup = new DnsCnameLookup([`127.0.0.1:${pebble.dnsPort}`]);
    const assess = async (domain: string) => {
      const cnameTarget = await lookup.challengeCname(domain);
      return assessDns01Readiness({ domain, cnameTarget, writable: isWithinZones(cnameTarget ?? `_acme-challenge.${domain}`, [MSP_ZONE]) }, { delegationZone: MSP_ZONE });
    };

    expect(await assess('ready.client.test')).toEqual({ mode: 'delegated' });
    expect((await assess('unready.client.test')).finding?.code).toBe('dns01-unavailable');
  });
});

describe('DnsCnameLookup failures', () => {
  it('When the DNS server never answers, then the lookup fails as retryable, and an abort stops it', async () => {
    // A UDP socket that swallows queries: a server that is up but silent.
    const silent = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', resolve));
    const server = `127.0.0.1:${silent.address().port}`;
    try {
      await expect(new DnsCnameLookup([server], { timeoutInMs: 200 }).challengeCname('x.client.test')).rejects.toThrow(RetryableError);
      const aborted = new DnsCnameLookup([server], { timeoutInMs: 5_000 }).challengeCname('x.client.test', { abortSignal: AbortSignal.timeout(100) });
      // The signal's own reason, long before the resolver's 5 s timeout (which would be a RetryableError).
      await expect(aborted).rejects.toMatchObject({ name: 'TimeoutError' });
    } finally {
      silent.close();
    }
  });
});

describe('delegatedRecordName and DelegatingDnsSolver', () => {
  it.each([
    { name: 'shop.client.test', zone: 'acme.msp.test', expected: 'shop.client.test.acme.msp.test' },
    { name: '*.shop.client.test', zone: 'acme.msp.test', expected: 'shop.client.test.acme.msp.test' },
    { name: 'Shop.Client.Test.', zone: 'ACME.msp.test.', expected: 'shop.client.test.acme.msp.test' },
  ])('When $name is delegated to $zone, then the TXT record goes to $expected', ({ name, zone, expected }) => {
    expect(delegatedRecordName(name, zone)).toBe(expected);
  });

  it.each([
    { case: 'the zone is empty', name: 'shop.client.test', zone: ' . ' },
    { case: 'the name is a bare wildcard', name: '*', zone: 'acme.msp.test' },
  ])('When $case, then the mapping fails permanently', ({ name, zone }) => {
    expect(() => delegatedRecordName(name, zone)).toThrow(PermanentError);
  });

  it('When some names are not delegated, then their record is written at the name itself and the others at the target', async () => {
    const provider = new RecordingDnsSolver({ present: async () => undefined, cleanup: async () => undefined });
    const solver = new DelegatingDnsSolver(provider, MSP_ZONE, { isDelegated: (name) => name.endsWith('.client.test') });

    await solver.present({ fqdn: '_acme-challenge.shop.client.test', value: 'v' });
    await solver.cleanup({ fqdn: '_acme-challenge.www.msp.test.', value: 'v' });

    expect(provider.calls).toEqual(['present shop.client.test.acme.msp.test', 'cleanup _acme-challenge.www.msp.test.']);
  });

  it('When a record name lacks the _acme-challenge label, then it is refused instead of written somewhere unexpected', async () => {
    const provider = new RecordingDnsSolver({ present: async () => undefined, cleanup: async () => undefined });

    await expect(new DelegatingDnsSolver(provider, MSP_ZONE).present({ fqdn: 'shop.client.test', value: 'v' })).rejects.toThrow(PermanentError);
    expect(provider.calls).toEqual([]);
  });
});

describe('DNS-01 readiness of a client domain', () => {
  const observed = (overrides: Partial<Dns01Observation> = {}): Dns01Observation => ({ domain: 'shop.client.test', cnameTarget: null, writable: true, ...overrides });
  const zone = { delegationZone: MSP_ZONE };

  it.each<{ case: string; observation: Dns01Observation; options?: { delegationZone?: string }; mode: Dns01Readiness['mode']; code?: string; says?: RegExp }>([
    { case: 'the MSP can write the client zone and there is no CNAME', observation: observed(), options: zone, mode: 'direct' },
    { case: 'the CNAME points at the expected name in the MSP zone', observation: observed({ cnameTarget: 'shop.client.test.acme.msp.test.' }), options: zone, mode: 'delegated' },
    { case: 'a wildcard is delegated through its base name', observation: observed({ domain: '*.shop.client.test', cnameTarget: 'shop.client.test.acme.msp.test' }), options: zone, mode: 'delegated' },
    { case: 'the CNAME points at a writable name and no zone convention is given', observation: observed({ cnameTarget: 'random-label.auth.msp.test' }), mode: 'delegated' },
    {
      case: 'there is no CNAME and the MSP has no rights in the client zone', observation: observed({ writable: false }), options: zone, mode: 'unavailable',
      code: 'dns01-unavailable', says: /create CNAME _acme-challenge\.shop\.client\.test → shop\.client\.test\.acme\.msp\.test/,
    },
    {
      case: 'there is no CNAME, no rights and no delegation zone', observation: observed({ writable: false }), mode: 'unavailable',
      code: 'dns01-unavailable', says: /delegate it by CNAME to a zone the MSP controls/,
    },
    {
      case: 'the CNAME points into a zone the MSP cannot write', observation: observed({ cnameTarget: 'shop.client.test.other-provider.test', writable: false }), mode: 'unavailable',
      code: 'dns01-delegation-broken', says: /points to shop\.client\.test\.other-provider\.test, where the MSP cannot write/,
    },
    {
      case: 'the CNAME points at a name certops does not write', observation: observed({ cnameTarget: 'old.acme.msp.test' }), options: zone, mode: 'unavailable',
      code: 'dns01-delegation-broken', says: /not to shop\.client\.test\.acme\.msp\.test.*change the CNAME to shop\.client\.test\.acme\.msp\.test/,
    },
  ])('When $case, then DNS-01 is $mode', ({ observation, options, mode, code, says }) => {
    const readiness = assessDns01Readiness(observation, options);

    expect(readiness.mode).toBe(mode);
    expect(readiness.finding?.code).toBe(code);
    if (says) expect(readiness.finding?.message).toMatch(says);
    if (readiness.finding) expect(readiness.finding.severity).toBe('warning');
  });

  it.each([
    { name: '_acme-challenge.shop.client.test', zones: ['client.test'], expected: true },
    { name: 'shop.client.test.acme.msp.test.', zones: ['ACME.msp.test'], expected: true },
    { name: 'acme.msp.test', zones: ['acme.msp.test'], expected: true },
    { name: 'notacme.msp.test', zones: ['acme.msp.test'], expected: false },
    { name: 'shop.client.test', zones: [], expected: false },
  ])('When $name is checked against $zones, then it is writable: $expected', ({ name, zones, expected }) => {
    expect(isWithinZones(name, zones)).toBe(expected);
  });
});
