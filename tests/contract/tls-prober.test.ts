/**
 * Contract of the Prober port (shared/ports/prober.ts) for TlsProber, against real TLS servers of
 * the demo fleet on loopback, with certificates generated at test time.
 */
import * as fs from 'node:fs/promises';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { createCertificate, generateKeyPair, type HashName, type KeyPair, type KeySpec } from '../../shared/adapters/local/certificate-factory';
import { TlsProber } from '../../shared/adapters/tls/tls-prober';
import { TlsFleet, startMisbehavingPeers, type FleetServerSpec, type MisbehavingPeers } from '../../shared/demo/tls-fleet';
import type { ProbeRequest, ProbeResult } from '../../shared/ports/prober';
import { runWithoutRoutes } from '../support/network-namespace';
import type { ProbeChildResult } from '../support/probe-child';

const DAY = 86_400_000;

interface Issued {
  pem: string;
  der: Buffer;
  key: KeyPair;
}

/** A CA → intermediate → leaf chain, all freshly generated. */
async function aChain(cn: string, options: { dnsNames?: string[]; notAfter?: Date; keySpec?: KeySpec; hash?: HashName } = {}) {
  const notBefore = new Date(Date.now() - DAY);
  const notAfter = options.notAfter ?? new Date(Date.now() + 90 * DAY);
  const issue = async (subject: string, isCA: boolean, issuer?: Issued): Promise<Issued> => {
    const key = await generateKeyPair(options.keySpec ?? 'ec-p256', options.hash);
    const cert = await createCertificate({
      subject,
      isCA,
      key,
      notBefore,
      notAfter,
      dnsNames: isCA ? undefined : (options.dnsNames ?? [cn]),
      issuer: issuer && { certificatePem: issuer.pem, key: issuer.key },
      hash: options.hash,
    });
    return { pem: cert.certificatePem, der: cert.der, key };
  };
  const root = await issue(`CN=${cn} Root`, true);
  const intermediate = await issue(`CN=${cn} Intermediate`, true, root);
  const leaf = await issue(`CN=${cn}`, false, intermediate);
  return { root, intermediate, leaf };
}
type Chain = Awaited<ReturnType<typeof aChain>>;

let dir: string;
/** Writes a chain as files; `presented` is what goes in the chain file, in that order. */
async function filesFor(name: string, chain: Chain, presented: Issued[] = [chain.intermediate]) {
  const certFile = path.join(dir, `${name}.crt`);
  const keyFile = path.join(dir, `${name}.key`);
  const chainFile = path.join(dir, `${name}.chain.pem`);
  await fs.writeFile(certFile, chain.leaf.pem);
  await fs.writeFile(keyFile, chain.leaf.key.privateKeyPem);
  await fs.writeFile(chainFile, presented.map((c) => c.pem).join(''));
  return { certFile, keyFile, chainFile };
}

function aRequest(endpoint: { address: string; port: number }, overrides: Partial<ProbeRequest> = {}): ProbeRequest {
  return { address: endpoint.address, port: endpoint.port, connectTimeoutMs: 2000, handshakeTimeoutMs: 2000, ...overrides };
}

function chainOf(result: ProbeResult): Buffer[] {
  if (!result.ok) throw new Error(`expected a chain, got ${result.error.code}: ${result.error.message}`);
  return result.chain;
}

/** A TCP relay in front of a TLS server that keeps the first bytes (the ClientHello) of each connection. */
async function startClientHelloRecorder(targetPort: number) {
  const hellos: Buffer[] = [];
  const sockets = new Set<net.Socket>();
  const relay = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    for (const s of [client, upstream]) sockets.add(s.on('error', () => undefined).on('close', () => sockets.delete(s)));
    client.once('data', (hello) => hellos.push(hello));
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
  return {
    endpoint: { address: '127.0.0.1', port: (relay.address() as net.AddressInfo).port },
    hellos,
    close: () => new Promise<void>((r) => (sockets.forEach((s) => s.destroy()), relay.close(() => r()))),
  };
}

/**
 * True when a ClientHello offers a previous session: a pre_shared_key extension (41, RFC 8446
 * §4.2.11) or a non-empty SessionTicket extension (35, RFC 5077 §3.2).
 */
function offersResumption(record: Buffer): boolean {
  let at = 5 + 4 + 2 + 32; // record header, handshake header, legacy_version, random
  at += 1 + record[at]; // legacy_session_id (random in TLS 1.3 middlebox mode: not a signal)
  at += 2 + record.readUInt16BE(at); // cipher_suites
  at += 1 + record[at]; // legacy_compression_methods
  const end = at + 2 + record.readUInt16BE(at);
  for (at += 2; at + 4 <= end; at += 4 + record.readUInt16BE(at + 2)) {
    const type = record.readUInt16BE(at);
    if (type === 41 || (type === 35 && record.readUInt16BE(at + 2) > 0)) return true;
  }
  return false;
}

const prober = new TlsProber();
let fleet: TlsFleet;
let peers: MisbehavingPeers;
let main: Chain, other: Chain, misordered: Chain, renewed: Chain, weak: Chain;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tls-prober-'));
  [main, other, misordered, renewed, weak] = await Promise.all([
    aChain('main.test'),
    aChain('other.test'),
    aChain('misordered.test'),
    aChain('main.test', { notAfter: new Date(Date.now() + 400 * DAY) }),
    aChain('weak.test', { keySpec: 'rsa-1024', hash: 'SHA-1' }),
  ]);
  const plain = await filesFor('plain', main);
  const servers: FleetServerSpec[] = [
    { name: 'main', ...(await filesFor('main', main)), sni: { 'other.test': await filesFor('other', other) } },
    { name: 'misordered', address: '127.0.0.2', ...(await filesFor('misordered', misordered, [misordered.root, misordered.intermediate])) },
    { name: 'reloadable', ...(await filesFor('reloadable', main)) },
    { name: 'weak', ...(await filesFor('weak', weak)), tls: { ciphers: 'DEFAULT:@SECLEVEL=0' } },
    // Legacy servers need OpenSSL security level 0 to offer TLS 1.0/1.1 at all.
    ...(['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'] as const).map((v) => ({ name: v, ...plain, tls: { minVersion: v, maxVersion: v, ciphers: 'DEFAULT:@SECLEVEL=0' } })),
  ];
  fleet = await TlsFleet.start(servers);
  peers = await startMisbehavingPeers();
});

afterAll(async () => {
  await Promise.all([fleet?.close(), peers?.close()]);
  await fs.rm(dir, { recursive: true, force: true });
});

describe('TlsProber against real servers', () => {
  it('When a server presents leaf and intermediate, then the chain comes back leaf first as DER', async () => {
    const result = await prober.probe(aRequest(fleet.endpoint('main'), { servername: 'main.test' }));
    expect(chainOf(result)).toEqual([main.leaf.der, main.intermediate.der]);
    expect(result).toMatchObject({ ok: true, protocol: 'TLSv1.3' });
    expect(result.durationMs).toBeGreaterThan(0);
  });

  it.each([
    { case: 'no SNI', servername: undefined, expected: () => main },
    { case: 'the SNI name of the second certificate', servername: 'other.test', expected: () => other },
    { case: 'that name in upper case with a trailing dot', servername: 'OTHER.TEST.', expected: () => other },
    { case: 'an unknown SNI name', servername: 'unknown.test', expected: () => main },
    { case: 'an IP literal as server name (not sent: RFC 6066 §3)', servername: '127.0.0.1', expected: () => main },
  ])('When probing with $case, then the server picks the matching certificate', async ({ servername, expected }) => {
    const result = await prober.probe(aRequest(fleet.endpoint('main'), { servername }));
    expect(chainOf(result)[0]).toEqual(expected().leaf.der);
  });

  it('When a server presents its chain out of order, then the chain is returned exactly as presented', async () => {
    const result = await prober.probe(aRequest(fleet.endpoint('misordered')));
    expect(chainOf(result)).toEqual([misordered.leaf.der, misordered.root.der, misordered.intermediate.der]);
  });

  it.each(['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'])('When the server speaks only %s, then the probe succeeds and reports it', async (version) => {
    const result = await prober.probe(aRequest(fleet.endpoint(version)));
    expect(result).toMatchObject({ ok: true, protocol: version });
  });

  it('When the server presents an RSA-1024 chain signed with SHA-1, then the probe still returns it', async () => {
    const result = await prober.probe(aRequest(fleet.endpoint('weak')));
    expect(chainOf(result)).toEqual([weak.leaf.der, weak.intermediate.der]);
  });

  it('When legacy protocols are not allowed, then a TLS 1.0 server fails the handshake', async () => {
    const strict = new TlsProber({ allowLegacyProtocols: false });
    const result = await strict.probe(aRequest(fleet.endpoint('TLSv1')));
    expect(result).toMatchObject({ ok: false, error: { code: 'handshake-failed' } });
  });

  it('When probing twice in a row, then both probes return the certificate', async () => {
    const first = await prober.probe(aRequest(fleet.endpoint('main')));
    const second = await prober.probe(aRequest(fleet.endpoint('main')));
    expect(chainOf(first)[0]).toEqual(main.leaf.der);
    expect(chainOf(second)[0]).toEqual(main.leaf.der);
  });

  it.each(['TLSv1.2', 'TLSv1.3'] as const)('When a %s server hands out session tickets, then no probe offers to resume', async (version) => {
    const server = tls.createServer({ key: main.leaf.key.privateKeyPem, cert: main.leaf.pem, maxVersion: version }, (s) => s.on('error', () => undefined).end('bye')); // a write flushes TLS 1.3 tickets
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const recorder = await startClientHelloRecorder((server.address() as net.AddressInfo).port);
    try {
      // Control: a client that kept its session offers it (and resumes), so the assertion can fail.
      const session = await new Promise<Buffer>((resolve, reject) => {
        const s = tls.connect({ host: recorder.endpoint.address, port: recorder.endpoint.port, rejectUnauthorized: false }).resume();
        s.once('session', (saved) => (resolve(saved), s.destroy()));
        s.once('close', () => reject(new Error('the server handed out no session')));
      });
      await new Promise<void>((resolve) => {
        const s = tls.connect({ host: recorder.endpoint.address, port: recorder.endpoint.port, rejectUnauthorized: false, session }, () => {
          expect(s.isSessionReused()).toBe(true);
          s.destroy();
          resolve();
        });
      });
      for (let i = 0; i < 3; i++) chainOf(await prober.probe(aRequest(recorder.endpoint)));
      expect(recorder.hellos.map(offersResumption)).toEqual([false, true, false, false, false]);
    } finally {
      await recorder.close();
      server.close();
    }
  });

  it('When 200 probes run in parallel, then every one returns the chain', async () => {
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) => prober.probe(aRequest(fleet.endpoint(i % 2 ? 'main' : 'misordered'), { connectTimeoutMs: 10_000, handshakeTimeoutMs: 10_000 }))),
    );
    expect(results.filter((r) => !r.ok)).toEqual([]);
  });
});

describe('TlsProber failure outcomes', () => {
  it('When nothing listens on the port, then connection-refused comes back quickly', async () => {
    const result = await prober.probe(aRequest({ address: '127.0.0.1', port: peers.refusedPort }));
    expect(result).toMatchObject({ ok: false, error: { code: 'connection-refused' } });
    expect(result.durationMs).toBeLessThan(500);
  });

  it('When the peer answers with non-TLS bytes, then handshake-failed', async () => {
    const result = await prober.probe(aRequest(peers.garbage));
    expect(result).toMatchObject({ ok: false, error: { code: 'handshake-failed' } });
  });

  it('When the peer accepts and never answers, then handshake-timeout within the bound', async () => {
    const handshakeTimeoutMs = 300;
    const started = performance.now();
    const result = await prober.probe(aRequest(peers.silent, { handshakeTimeoutMs }));
    const elapsed = performance.now() - started;
    expect(result).toMatchObject({ ok: false, error: { code: 'handshake-timeout' } });
    expect(elapsed).toBeGreaterThanOrEqual(handshakeTimeoutMs - 5);
    expect(elapsed).toBeLessThan(handshakeTimeoutMs + 250);
  });

  it('When the SYN is dropped (full accept queue), then endpoint-unreachable after the connect timeout', async () => {
    expect(peers.blackholeUnavailableReason).toBeUndefined();
    const connectTimeoutMs = 300;
    const result = await prober.probe(aRequest(peers.blackhole!, { connectTimeoutMs, handshakeTimeoutMs: 5000 }));
    expect(result).toMatchObject({ ok: false, error: { code: 'endpoint-unreachable' } });
    expect(result.durationMs).toBeGreaterThanOrEqual(connectTimeoutMs - 5);
    expect(result.durationMs).toBeLessThan(connectTimeoutMs + 250);
  });

  it('When the probe is aborted mid-handshake, then it rejects with AbortError at once', async () => {
    const controller = new AbortController();
    const started = performance.now();
    const probe = prober.probe(aRequest(peers.silent, { abortSignal: controller.signal, handshakeTimeoutMs: 5000 }));
    setTimeout(() => controller.abort(), 50);
    await expect(probe).rejects.toMatchObject({ name: 'AbortError' });
    expect(performance.now() - started).toBeLessThan(1000);
  });

  // (Node warns about >10 abort listeners on one signal; the prober lifts that limit. Jest's sandboxed
  // AbortSignal is not one node:events recognises and never warns, so that part is checked outside jest.)
  it('When 50 probes share one signal, then aborting it rejects them all', async () => {
    const controller = new AbortController();
    const probes = Array.from({ length: 50 }, () => prober.probe(aRequest(peers.silent, { abortSignal: controller.signal })));
    setTimeout(() => controller.abort(), 50);
    const outcomes = await Promise.allSettled(probes);
    expect(outcomes.map((o) => o.status === 'rejected' && (o.reason as Error).name)).toEqual(Array(50).fill('AbortError'));
  });

  it('When the signal is already aborted, then the probe rejects without connecting', async () => {
    await expect(prober.probe(aRequest(fleet.endpoint('main'), { abortSignal: AbortSignal.abort() }))).rejects.toMatchObject({ name: 'AbortError' });
  });

  it.each([
    { case: 'port 0', overrides: { port: 0 } },
    { case: 'a zero handshake timeout', overrides: { handshakeTimeoutMs: 0 } },
  ])('When the request has $case, then probe throws a TypeError (programmer error)', ({ overrides }) => {
    expect(() => prober.probe(aRequest(fleet.endpoint('main'), overrides))).toThrow(TypeError);
  });
});

/**
 * Where certops' host has no route: each probe runs in a network namespace with loopback only
 * (tests/support/network-namespace.ts), so the kernel's answer does not depend on this machine's
 * routes and nothing is sent off the machine.
 */
describe('TlsProber where certops has no route', () => {
  const PROBE_CHILD = path.resolve(__dirname, '../support/probe-child.ts');
  async function probeWithoutRoutes(request: ProbeRequest, setup?: string[]): Promise<ProbeChildResult> {
    const run = await runWithoutRoutes(PROBE_CHILD, [JSON.stringify(request)], { timeoutMs: 30_000, setup });
    return JSON.parse(run.stdout.trim()) as ProbeChildResult;
  }

  it.each([
    ['IPv6', '2001:db8::1'],
    ['IPv4', '192.0.2.1'],
  ])('When certops has no %s route at all (%s), then no-route at once, naming the family, not endpoint-unreachable', async (family, address) => {
    const result = await probeWithoutRoutes({ address, port: 443, connectTimeoutMs: 5000, handshakeTimeoutMs: 5000 });
    expect(result).toMatchObject({ ok: false, error: { code: 'no-route' } });
    expect(!result.ok && result.error.message).toMatch(new RegExp(`certops has no ${family} route to this address \\(ENETUNREACH\\)`));
    expect(result.durationMs).toBeLessThan(1000);
  });

  it('When certops has a route but its next hop never answers (EHOSTUNREACH), then endpoint-unreachable: that is not certops lacking a route', async () => {
    // A veth pair with both ends in the namespace: the route to 2001:db8:1::/48 goes via fd00:db8::1,
    // which nobody answers for, so neighbour discovery fails after about 3 s.
    const setup = [
      'ip link add certops0 type veth peer name silent0',
      'ip link set silent0 up',
      'ip link set certops0 up',
      'ip -6 addr add fd00:db8::2/64 dev certops0 nodad',
      'ip -6 route add 2001:db8:1::/48 via fd00:db8::1 dev certops0',
    ];
    const result = await probeWithoutRoutes({ address: '2001:db8:1::1', port: 443, connectTimeoutMs: 15_000, handshakeTimeoutMs: 5000 }, setup);
    expect(result).toMatchObject({ ok: false, error: { code: 'endpoint-unreachable', message: expect.stringContaining('EHOSTUNREACH') } });
  });
});

describe('TlsFleet reload seen through the prober', () => {
  const post = (url: string) => fetch(url, { method: 'POST' });

  it('When new files are POSTed to the reload URL, then the next probe sees the new certificate and none fails meanwhile', async () => {
    const before = await prober.probe(aRequest(fleet.endpoint('reloadable')));
    expect(chainOf(before)[0]).toEqual(main.leaf.der);
    await filesFor('reloadable', renewed);

    let reloading = true;
    const during: ProbeResult[] = [];
    const load = (async () => {
      while (reloading) during.push(await prober.probe(aRequest(fleet.endpoint('reloadable'))));
    })();
    const response = await post(fleet.reloadUrl('reloadable'));
    reloading = false;
    await load;

    expect(response.status).toBe(204);
    const after = await prober.probe(aRequest(fleet.endpoint('reloadable')));
    expect(chainOf(after)).toEqual([renewed.leaf.der, renewed.intermediate.der]);
    expect(during.filter((r) => !r.ok)).toEqual([]);
  });

  it('When the files cannot be loaded, then 500 with the reason and the old certificate stays', async () => {
    const served = chainOf(await prober.probe(aRequest(fleet.endpoint('reloadable'))))[0];
    await fs.writeFile(path.join(dir, 'reloadable.key'), other.leaf.key.privateKeyPem); // key of another certificate
    const response = await post(fleet.reloadUrl('reloadable'));
    expect(response.status).toBe(500);
    expect(await response.text()).toMatch(/key/i);
    expect(chainOf(await prober.probe(aRequest(fleet.endpoint('reloadable'))))[0]).toEqual(served);
  });

  it('When the name is unknown, then the control server answers 404', async () => {
    expect((await post(fleet.reloadUrl('nobody'))).status).toBe(404);
    await expect(fleet.reload('nobody')).rejects.toThrow(/no server named/);
  });

  it('When the reload URL is fetched with GET, then 405 and nothing is reloaded', async () => {
    const response = await fetch(fleet.reloadUrl('reloadable'));
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('POST');
  });

  it('When a server is given a non-loopback address, then the fleet refuses to start', async () => {
    const spec = { name: 'outside', address: '192.0.2.1', certFile: 'unused', keyFile: 'unused' };
    await expect(TlsFleet.start([spec])).rejects.toThrow(/not a loopback address/);
  });
});
