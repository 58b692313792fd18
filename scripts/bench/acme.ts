/**
 * ACME issuance throughput against ONE Pebble (PEBBLE_VA_NOSLEEP=1, authorization reuse and nonce
 * rejection off), three ways over the same distinct names, interleaved round by round:
 *  - certops: AcmeIssuer with HTTP-01 through MemoryHttpResponder, an in-memory KeyStore and
 *    several tenants (accounts reused, as in production);
 *  - lego (the peer): one `lego run` process per certificate, up to `concurrency` at once, HTTP-01
 *    through `--http.webroot` (served by this process on Pebble's HTTP-01 port, because lego's own
 *    listener would allow one process at a time), one `--path` per tenant so accounts are reused;
 *  - a bare acme-client loop (the ceiling): the explicit RFC 8555 order flow, one account per tenant.
 *
 * certops and the bare loop each run in a child process of their own (this file, forked): the
 * issuer registers process-wide axios interceptors for Pebble's origin, which would otherwise
 * also carry the bare loop's requests. Throughput counts certificates actually obtained.
 *
 *   parent → { kind: 'acme-run', method: 'certops' | 'bare', directoryUrl, tlsCaPem, httpPort, names, tenants, concurrency }
 *   child  → { kind: 'acme-ran', ok, wallMs, failures }
 */
import { childEnvironment } from '../../shared/adapters/local/child-environment';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import * as acme from 'acme-client';
import { AcmeIssuer } from '../../shared/adapters/acme/acme-issuer';
import { MemoryHttpResponder } from '../../shared/adapters/acme/memory-http-responder';
import { systemClock } from '../../shared/domain/clock';
import { startPebble } from '../../shared/demo/pebble-lab';
import { startChild, type Child } from './child';
import { medianOf } from './discovery';
import { runPool } from './handshakes';

/** Pebble's environment for the whole section (nonce rejection off: this measures throughput). */
export const ACME_PEBBLE_ENV = { PEBBLE_VA_NOSLEEP: '1', PEBBLE_AUTHZREUSE: '0', PEBBLE_WFE_NONCEREJECT: '0' } as const;
/**
 * Polling of challenges and orders for certops and the bare loop alike: Pebble with NOSLEEP
 * validates in milliseconds, so the issuer's production default (500 ms first wait, tuned for
 * real CAs) would measure the wait rather than the issuance. An AcmeIssuer option, not a patch.
 */
export const ACME_POLL_BACKOFF = { minMs: 50, maxMs: 1_000, attempts: 20 } as const;
const LEGO_TIMEOUT_MS = 60_000;
const CHALLENGE_PREFIX = '/.well-known/acme-challenge/';

export interface AcmeOptions {
  certificates: number;
  concurrency: number;
  tenants: number;
  rounds: number;
  /**
   * The round (0-based) in which lego is measured; lego is measured once. Its rate is set by a
   * fixed wait (lego polls a challenge 5 s after triggering it when the CA's answer carries no
   * Retry-After, as Pebble's does not), so one pass of 120 certificates lasts ~90 s and a second
   * would repeat the figure at the cost of the section's time budget.
   */
  legoRound: number;
  /**
   * Certificates per method in the warm-up (creates the accounts, warms Pebble and the JITs);
   * lego's warm-up is one certificate per tenant (its only cold cost is registering the account).
   */
  warmUpCertificates: number;
}

export interface AcmeFigures {
  certificates: number;
  concurrency: number;
  tenants: number;
  challenge: 'http-01';
  /** Medians, certificates per second. */
  certopsPerSecond: number;
  legoPerSecond: number | null;
  barePerSecond: number;
  rounds: Array<Record<string, number>>;
  notes: string[];
}

interface RunRequest {
  kind: 'acme-run';
  method: 'certops' | 'bare';
  directoryUrl: string;
  tlsCaPem: string;
  httpPort: number;
  names: string[];
  tenants: number;
  concurrency: number;
}

interface RunResult {
  kind: 'acme-ran';
  ok: number;
  wallMs: number;
  failures: string[];
}

const benchName = (round: string, i: number): string => `c${i}.${round}.bench.test`;
const tenantOf = (i: number, tenants: number): string => `tenant-${i % tenants}`;

/** Starts one Pebble, measures the three methods, stops Pebble, every child and every lego process. */
export async function measureAcme(options: AcmeOptions, log: (s: string) => void): Promise<AcmeFigures> {
  if (options.concurrency !== options.tenants) throw new Error('acme: lego runs one lane per tenant, so concurrency must equal tenants');
  const notes: string[] = [];
  const pebble = await startPebble({ env: { ...ACME_PEBBLE_ENV } });
  const workDir = mkdtempSync(path.join(tmpdir(), 'certops-bench-acme-'));
  const children: Child[] = [];
  const legoProcesses = new Set<ChildProcess>();
  try {
    const caFile = path.join(workDir, 'pebble-tls-ca.pem');
    writeFileSync(caFile, pebble.tlsCaPem);
    const certopsChild = startChild('acme.ts');
    const bareChild = startChild('acme.ts');
    children.push(certopsChild, bareChild);
    const lego = new LegoRunner(pebble.directoryUrl, caFile, workDir, pebble.httpChallengePort, options.tenants, legoProcesses);
    const legoVersion = await lego.version();

    const inChild = (child: Child, method: RunRequest['method']) => async (names: string[]): Promise<RunResult> =>
      child.ask<RunResult>(
        { kind: 'acme-run', method, directoryUrl: pebble.directoryUrl, tlsCaPem: pebble.tlsCaPem, httpPort: pebble.httpChallengePort, names, tenants: options.tenants, concurrency: options.concurrency } satisfies RunRequest,
        'acme-ran',
        120_000,
      );
    const methods: Array<[string, (names: string[]) => Promise<RunResult>]> = [
      ['certops', inChild(certopsChild, 'certops')],
      ['lego', (names) => lego.run(names)],
      ['bare', inChild(bareChild, 'bare')],
    ];

    log(`acme: one Pebble (${Object.entries(ACME_PEBBLE_ENV).map(([k, v]) => `${k}=${v}`).join(' ')}), HTTP-01, ${options.certificates} certificates, concurrency ${options.concurrency}, ${options.tenants} tenants; ${legoVersion}; warm-up…`);
    for (const [name, run] of methods) {
      const count = name === 'lego' ? options.tenants : options.warmUpCertificates;
      const names = Array.from({ length: count }, (_, i) => benchName(`w-${name}`, i));
      const result = await run(names);
      if (result.ok !== names.length) notes.push(`acme warm-up: ${name} obtained ${result.ok} of ${names.length} certificates; first failures: ${result.failures.join(' | ')}`);
    }
    const measured: Array<Record<string, number>> = [];
    for (let r = 0; r < options.rounds; r++) {
      const round: Record<string, number> = {};
      for (const [name, run] of methods) {
        if (name === 'lego' && r !== options.legoRound) continue;
        const names = Array.from({ length: options.certificates }, (_, i) => benchName(`r${r}-${name}`, i));
        const result = await run(names);
        if (result.ok !== names.length) notes.push(`acme round ${r + 1}: ${name} obtained ${result.ok} of ${names.length} certificates; first failures: ${result.failures.join(' | ')}`);
        round[name] = Math.round((result.ok / (result.wallMs / 1000)) * 10) / 10;
      }
      log(`  round ${r + 1}: ${Object.entries(round).map(([k, v]) => `${k} ${v}/s`).join(', ')}`);
      measured.push(round);
    }
    const median = (name: string): number | null => {
      const values = measured.filter((m) => name in m).map((m) => m[name] * 10);
      return values.length > 0 ? medianOf(values) / 10 : null;
    };
    notes.push(
      `acme: ${options.certificates} certificates per method and round, concurrency ${options.concurrency}, ${options.tenants} tenants, HTTP-01 (Pebble dials its HTTP-01 port on 127.0.0.1 through challtestsrv's default A record), median of ${options.rounds} interleaved rounds (lego in round ${options.legoRound + 1} only) after a warm-up of ${options.warmUpCertificates} (lego ${options.tenants}); poll backoff for certops and the bare loop ${JSON.stringify(ACME_POLL_BACKOFF)}`,
      `acme: lego (${legoVersion}) one process per certificate: lego --server <dir> --accept-tos --email x@bench.test --path <per tenant> --key-type ec256 --http --http.webroot <dir> -d <name> run, LEGO_CA_CERTIFICATES=<Pebble TLS CA>; rounds ${JSON.stringify(measured)}`,
    );
    return {
      certificates: options.certificates,
      concurrency: options.concurrency,
      tenants: options.tenants,
      challenge: 'http-01',
      certopsPerSecond: median('certops') ?? 0,
      legoPerSecond: median('lego'),
      barePerSecond: median('bare') ?? 0,
      rounds: measured,
      notes,
    };
  } finally {
    for (const p of legoProcesses) p.kill('SIGKILL');
    await Promise.all(children.map((c) => c.stop()));
    await pebble.stop();
    rmSync(workDir, { recursive: true, force: true });
  }
}

/** lego, one process per certificate, HTTP-01 through a webroot this process serves on Pebble's HTTP-01 port. */
class LegoRunner {
  private readonly webroot: string;

  constructor(
    private readonly directoryUrl: string,
    private readonly caFile: string,
    private readonly workDir: string,
    private readonly httpPort: number,
    private readonly tenants: number,
    private readonly live: Set<ChildProcess>,
  ) {
    this.webroot = path.join(workDir, 'webroot');
    mkdirSync(path.join(this.webroot, CHALLENGE_PREFIX), { recursive: true });
  }

  async version(): Promise<string> {
    const out = await this.exec(['--version']);
    return out.stdout.trim() || 'lego';
  }

  /** Runs one lane per tenant: `tenants` lego processes at most at once (the concurrency). */
  async run(names: string[]): Promise<RunResult> {
    const failures: string[] = [];
    // A fresh certificates dir per run (accounts stay): the count is of this run's certificates only.
    for (let t = 0; t < this.tenants; t++) rmSync(path.join(this.tenantPath(t), 'certificates'), { recursive: true, force: true });
    const server = await serveWebroot(this.webroot, this.httpPort);
    const started = performance.now();
    try {
      // One lane per tenant (the lanes are the concurrency): a tenant's lego processes run one after
      // another, so the first registers the account and the others reuse it without racing on its file.
      const lanes = Array.from({ length: this.tenants }, (_, lane) => names.filter((_, i) => i % this.tenants === lane));
      await Promise.all(
        lanes.map((lane, t) =>
          runPool(lane, 1, async (name) => {
            const result = await this.exec(
              ['--server', this.directoryUrl, '--accept-tos', '--email', 'x@bench.test', '--path', this.tenantPath(t), '--key-type', 'ec256', '--http', '--http.webroot', this.webroot, '-d', name, 'run'],
              { LEGO_CA_CERTIFICATES: this.caFile },
            );
            if (result.code !== 0 && failures.length < 3) failures.push(`${name}: exit ${result.code}: ${result.stderr.trim().split('\n').slice(-1)[0]}`);
          }),
        ),
      );
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    const wallMs = Math.round(performance.now() - started);
    let ok = 0;
    for (let t = 0; t < this.tenants; t++) {
      try {
        ok += readdirSync(path.join(this.tenantPath(t), 'certificates')).filter((f) => f.endsWith('.crt') && !f.endsWith('.issuer.crt')).length;
      } catch {
        // no certificate for this tenant
      }
    }
    return { kind: 'acme-ran', ok, wallMs, failures };
  }

  private tenantPath(t: number): string {
    return path.join(this.workDir, 'lego', `tenant-${t}`);
  }

  private exec(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      const child = spawn('lego', args, { env: childEnvironment(process.env, [], { set: env, child: 'lego' }), stdio: ['ignore', 'pipe', 'pipe'] });
      this.live.add(child);
      let stdout = '';
      let stderr = '';
      child.stdout?.on('data', (c: Buffer) => (stdout = (stdout + c.toString()).slice(-4000)));
      child.stderr?.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-4000)));
      const timer = setTimeout(() => child.kill('SIGKILL'), LEGO_TIMEOUT_MS);
      child.once('error', (err) => (stderr += String(err)));
      child.once('close', (code) => {
        clearTimeout(timer);
        this.live.delete(child);
        resolve({ code, stdout, stderr });
      });
    });
  }
}

/** Serves `<webroot>/.well-known/acme-challenge/<token>` (what lego's webroot provider writes). */
async function serveWebroot(webroot: string, port: number): Promise<http.Server> {
  return listen(port, (token) => {
    try {
      return readFileSync(path.join(webroot, CHALLENGE_PREFIX, path.basename(token)), 'utf8');
    } catch {
      return undefined;
    }
  });
}

async function listen(port: number, answer: (token: string) => string | undefined): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const url = (req.url ?? '').split('?')[0];
    const body = url.startsWith(CHALLENGE_PREFIX) ? answer(url.slice(CHALLENGE_PREFIX.length)) : undefined;
    if (body === undefined) res.writeHead(404).end();
    else res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return server;
}

// ---------------------------------------------------------------------------------------------
// Child side: certops' AcmeIssuer or the bare acme-client loop, in a process of its own.

/** certops: the real AcmeIssuer, one per child (accounts and their URLs are reused across runs). */
async function certopsRunner(request: RunRequest): Promise<(names: string[]) => Promise<RunResult>> {
  const keys = new Map<string, string>();
  const keyStore = {
    put: async (tenantId: string, name: string, pem: string) => void keys.set(`${tenantId}/${name}`, pem),
    get: async (tenantId: string, name: string) => keys.get(`${tenantId}/${name}`) ?? null,
    delete: async (tenantId: string, name: string) => void keys.delete(`${tenantId}/${name}`),
  };
  const responder = new MemoryHttpResponder({ port: request.httpPort });
  const issuer = new AcmeIssuer({
    directoryUrl: request.directoryUrl,
    keyStore,
    clock: systemClock,
    challenge: 'http-01',
    http: responder,
    tlsCa: request.tlsCaPem,
    pollBackoff: ACME_POLL_BACKOFF,
  });
  return async (names) => {
    await responder.listen();
    try {
      return await timedIssuance(names, request, (name, tenantId) =>
        issuer.issue({ tenantId, certificateId: name, commonName: name, dnsNames: [name], ipAddresses: [], keyType: 'ec-p256', validityDays: 90 }),
      );
    } finally {
      await responder.close();
    }
  };
}

/** Issues `names` at the request's concurrency, counting successes and keeping the first failures. */
async function timedIssuance(names: string[], request: RunRequest, issueOne: (name: string, tenantId: string) => Promise<unknown>): Promise<RunResult> {
  const failures: string[] = [];
  let ok = 0;
  const started = performance.now();
  await runPool(names.map((name, i) => ({ name, i })), request.concurrency, async ({ name, i }) => {
    try {
      await issueOne(name, tenantOf(i, request.tenants));
      ok += 1;
    } catch (err) {
      if (failures.length < 3) failures.push(`${name}: ${String(err)}`);
    }
  });
  return { kind: 'acme-ran', ok, wallMs: Math.round(performance.now() - started), failures };
}

/** The ceiling: acme-client's explicit order flow, nothing else (no retries, no mapping, no logging). */
async function bareRunner(request: RunRequest): Promise<(names: string[]) => Promise<RunResult>> {
  acme.axios.defaults.httpsAgent = new https.Agent({ ca: request.tlsCaPem, keepAlive: true });
  const tokens = new Map<string, string>();
  const clients = new Map<string, Promise<acme.Client>>();
  const clientFor = (tenantId: string) => {
    let pending = clients.get(tenantId);
    if (!pending) {
      pending = (async () => {
        const client = new acme.Client({
          directoryUrl: request.directoryUrl,
          accountKey: await acme.crypto.createPrivateEcdsaKey('P-256'),
          backoffAttempts: ACME_POLL_BACKOFF.attempts,
          backoffMin: ACME_POLL_BACKOFF.minMs,
          backoffMax: ACME_POLL_BACKOFF.maxMs,
        });
        await client.createAccount({ termsOfServiceAgreed: true });
        return client;
      })();
      clients.set(tenantId, pending);
    }
    return pending;
  };
  const issue = async (name: string, tenantId: string): Promise<void> => {
    const client = await clientFor(tenantId);
    const order = await client.createOrder({ identifiers: [{ type: 'dns', value: name }] });
    for (const authz of await client.getAuthorizations(order)) {
      const challenge = authz.challenges.find((c) => c.type === 'http-01')!;
      tokens.set(challenge.token, await client.getChallengeKeyAuthorization(challenge));
      await client.completeChallenge(challenge);
      await client.waitForValidStatus(challenge);
      tokens.delete(challenge.token);
    }
    const [, csr] = await acme.crypto.createCsr({ commonName: name, altNames: [name] }, await acme.crypto.createPrivateEcdsaKey('P-256'));
    const finalized = await client.finalizeOrder(order, csr);
    await client.getCertificate(finalized.status === 'valid' ? finalized : await client.waitForValidStatus(finalized));
  };
  return async (names) => {
    const server = await listen(request.httpPort, (token) => tokens.get(token));
    try {
      return await timedIssuance(names, request, issue);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  };
}

if (require.main === module && process.send) {
  let runner: Promise<(names: string[]) => Promise<RunResult>> | undefined;
  process.on('message', (message: RunRequest) => {
    if (message.kind !== 'acme-run') return;
    runner ??= message.method === 'certops' ? certopsRunner(message) : bareRunner(message);
    runner
      .then((run) => run(message.names))
      .then(
        (result) => process.send?.(result),
        (err: unknown) => process.send?.({ kind: 'error', message: String(err) }),
      );
  });
  process.on('disconnect', () => process.exit(0));
}
