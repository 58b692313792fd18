/**
 * Contract of the Resolver port (shared/ports/resolver.ts) for StaticResolver and SystemResolver.
 * SystemResolver meets the real system only for names that never leave the machine (localhost, IP
 * literals, .invalid); its DNS paths run against an injected DNS backend so no query leaves loopback.
 */
import { NameResolutionError, type Resolver } from '../../shared/ports/resolver';
import { StaticResolver, SystemResolver, sortAddresses, type DnsBackend } from '../../shared/adapters/tls/system-resolver';

function dnsError(code: string): Error {
  return Object.assign(new Error(`query failed: ${code}`), { code });
}

/** A DNS backend answering from tables; a string answer is an error code. */
function aDnsBackend(answers: { a?: string[] | string; aaaa?: string[] | string; hosts?: string[] | string }) {
  const calls: string[] = [];
  const answer = (kind: string, value: string[] | string | undefined) => async () => {
    calls.push(kind);
    const v = value ?? 'ENOTFOUND';
    if (typeof v === 'string') throw dnsError(v);
    return v;
  };
  const backend: DnsBackend = {
    resolve4: answer('A', answers.a),
    resolve6: answer('AAAA', answers.aaaa),
    lookup: async (host) => (await answer('hosts', answers.hosts)()).map((address) => ({ address, family: address.includes(':') ? 6 : 4 })),
  };
  return { backend, calls };
}

async function failureOf(promise: Promise<unknown>): Promise<NameResolutionError> {
  const error = await promise.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(error).toBeInstanceOf(NameResolutionError);
  return error as NameResolutionError;
}

describe('StaticResolver', () => {
  const fallback: Resolver = { resolve: async (host) => (host === 'elsewhere.test' ? ['192.0.2.99'] : Promise.reject(new NameResolutionError(host, 'ENOTFOUND', 'no'))) };
  const map = { 'www.example.test': ['192.0.2.10', '2001:db8::1', '192.0.2.9'], 'Mixed.Example.Test.': ['192.0.2.20'], 'empty.test': [] };

  it.each([
    { case: 'a name in the map', host: 'www.example.test', expected: ['192.0.2.9', '192.0.2.10', '2001:db8::1'] },
    { case: 'the name in another case', host: 'WWW.Example.TEST', expected: ['192.0.2.9', '192.0.2.10', '2001:db8::1'] },
    { case: 'the name with a trailing dot', host: 'www.example.test.', expected: ['192.0.2.9', '192.0.2.10', '2001:db8::1'] },
    { case: 'a map key written in mixed case with a dot', host: 'mixed.example.test', expected: ['192.0.2.20'] },
    { case: 'an IPv4 literal', host: '198.51.100.7', expected: ['198.51.100.7'] },
    { case: 'a bracketed IPv6 literal', host: '[2001:db8::5]', expected: ['2001:db8::5'] },
    { case: 'a name only the fallback knows', host: 'elsewhere.test', expected: ['192.0.2.99'] },
  ])('When resolving $case, then the sorted addresses come back', async ({ host, expected }) => {
    expect(await new StaticResolver(map, fallback).resolve(host)).toEqual(expected);
  });

  it('When a name is in the map, then the fallback is never asked', async () => {
    const asked: string[] = [];
    const spy: Resolver = { resolve: async (host) => (asked.push(host), ['192.0.2.1']) };
    await new StaticResolver(map, spy).resolve('WWW.example.test.');
    expect(asked).toEqual([]);
  });

  it('When a name is mapped to no address, then ENODATA without asking the fallback', async () => {
    expect((await failureOf(new StaticResolver(map, fallback).resolve('empty.test'))).code).toBe('ENODATA');
  });

  it('When a name is not in the map and there is no fallback, then NameResolutionError ENOTFOUND names the host', async () => {
    const error = await failureOf(new StaticResolver(map).resolve('elsewhere.test'));
    expect(error).toMatchObject({ code: 'ENOTFOUND', host: 'elsewhere.test' });
    expect(error.message).toContain('elsewhere.test');
  });

  it('When the map holds something that is not an IP address, then construction throws', () => {
    expect(() => new StaticResolver({ 'a.test': ['not-an-ip'] })).toThrow(TypeError);
  });
});

describe('SystemResolver on this machine', () => {
  const resolver = new SystemResolver({ timeoutInMs: 1000, tries: 1 });

  it("When resolving 'localhost', then loopback comes back from the hosts file", async () => {
    const addresses = await resolver.resolve('localhost');
    expect(addresses.length).toBeGreaterThan(0);
    expect(addresses.every((a) => a.startsWith('127.') || a === '::1')).toBe(true);
  });

  it.each(['127.0.0.1', '::1', '2001:db8::1'])('When resolving the IP literal %s, then it comes back as is', async (ip) => {
    expect(await resolver.resolve(ip)).toEqual([ip]);
  });

  it('When resolving a name under .invalid, then ENOTFOUND at once, citing RFC 6761', async () => {
    const started = performance.now();
    const error = await failureOf(resolver.resolve('no-such-host.invalid'));
    expect(error).toMatchObject({ code: 'ENOTFOUND', host: 'no-such-host.invalid' });
    expect(error.message).toMatch(/RFC 6761/);
    expect(performance.now() - started).toBeLessThan(50);
  });
});

describe('SystemResolver over DNS answers', () => {
  it.each([
    { case: 'A and AAAA records', answers: { a: ['192.0.2.2', '192.0.2.1'], aaaa: ['2001:db8::2'] }, expected: ['192.0.2.1', '192.0.2.2', '2001:db8::2'], asked: ['A', 'AAAA'] },
    { case: 'only AAAA records', answers: { a: 'ENODATA', aaaa: ['2001:db8::1'] }, expected: ['2001:db8::1'], asked: ['A', 'AAAA'] },
    { case: 'a name only the hosts file knows', answers: { a: 'ENOTFOUND', aaaa: 'ENOTFOUND', hosts: ['10.0.0.5'] }, expected: ['10.0.0.5'], asked: ['A', 'AAAA', 'hosts'] },
  ])('When DNS answers with $case, then those addresses come back sorted', async ({ answers, expected, asked }) => {
    const dns = aDnsBackend(answers);
    expect(await new SystemResolver({ dns: dns.backend }).resolve('Host.Example.Test.')).toEqual(expected);
    expect(dns.calls.sort()).toEqual(asked.sort());
  });

  it.each([
    { case: 'NXDOMAIN', answers: { a: 'ENOTFOUND', aaaa: 'ENOTFOUND' }, code: 'ENOTFOUND' },
    { case: 'no address records', answers: { a: 'ENODATA', aaaa: 'ENODATA' }, code: 'ENODATA' },
    { case: 'a server failure on A', answers: { a: 'ESERVFAIL', aaaa: 'ENODATA' }, code: 'ESERVFAIL' },
    { case: 'a timeout', answers: { a: 'ETIMEOUT', aaaa: 'ETIMEOUT' }, code: 'ETIMEOUT' },
  ])('When DNS answers $case and the hosts file has nothing, then NameResolutionError carries the DNS code', async ({ answers, code }) => {
    const dns = aDnsBackend({ ...answers, hosts: 'ENOTFOUND' });
    const error = await failureOf(new SystemResolver({ dns: dns.backend }).resolve('host.example.test'));
    expect(error).toMatchObject({ code, host: 'host.example.test' });
    expect(error.message).toContain(code);
  });

  it('When the name is localhost or under .localhost, then DNS is not asked (RFC 6761 §6.3)', async () => {
    const dns = aDnsBackend({ a: ['192.0.2.1'], aaaa: ['2001:db8::1'], hosts: ['127.0.0.1'] });
    const resolver = new SystemResolver({ dns: dns.backend });
    expect(await resolver.resolve('LOCALHOST.')).toEqual(['127.0.0.1']);
    expect(await resolver.resolve('app.localhost')).toEqual(['127.0.0.1']);
    expect(dns.calls).toEqual(['hosts', 'hosts']);
  });

  it('When the query is aborted, then the resolve rejects with AbortError without waiting for DNS', async () => {
    const never = new Promise<string[]>(() => undefined);
    const resolver = new SystemResolver({ dns: { resolve4: () => never, resolve6: () => never, lookup: () => new Promise(() => undefined) } });
    const controller = new AbortController();
    const pending = resolver.resolve('slow.example.test', { abortSignal: controller.signal });
    controller.abort();
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
  });
});

describe('sortAddresses', () => {
  it('When addresses are mixed and repeated, then IPv4 comes first in numeric order, then IPv6, without duplicates', () => {
    expect(sortAddresses(['2001:db8::10', '10.0.0.10', '::ffff:10.0.0.1', '10.0.0.9', '2001:db8::9', '10.0.0.9', '::1'])).toEqual([
      '10.0.0.9',
      '10.0.0.10',
      '::1',
      '::ffff:10.0.0.1',
      '2001:db8::9',
      '2001:db8::10',
    ]);
  });
});
