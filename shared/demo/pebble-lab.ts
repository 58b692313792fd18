/**
 * Pebble harness: starts Let's Encrypt's test CA (`pebble`) and its DNS stand-in
 * (`pebble-challtestsrv`) as child processes on free loopback ports, for the tests, the demo
 * and the benchmark (a lab CA; never a production dependency).
 *
 * Traps handled here (STANDINS.md "ACME"):
 * - the Debian package ships no TLS certificate for Pebble: a CA and a `localhost` leaf are
 *   generated per run, and the CA is exposed for the client to trust;
 * - ports come from a config file written per run (the defaults may be taken);
 * - challtestsrv answers AAAA with `::1` by default, which sends Pebble's HTTP-01 dial to a
 *   listener that does not exist: `-defaultIPv6 ""`;
 * - `PEBBLE_VA_NOSLEEP=1` and `PEBBLE_AUTHZREUSE=0` by default (fast, and every order validates).
 *
 * Each process runs under a small `sh` watchdog in its own process group: the watchdog kills its
 * child when the jest worker disappears (even by SIGKILL), so no Pebble outlives the tests.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { localhostTlsMaterial } from '../adapters/local/certificate-factory';
import { childEnvironment } from '../adapters/local/child-environment';

export interface PebbleOptions {
  /** Pebble's own settings (e.g. `PEBBLE_WFE_NONCEREJECT: '30'`): with PATH, LANG and HOME, all of the environment it gets. */
  env?: Record<string, string>;
  /** Require External Account Binding (Pebble's EAB config, keys as in the reference config). */
  eab?: boolean;
}

export interface PebbleHandle {
  directoryUrl: string;
  /** PEM of the CA that signed Pebble's own TLS certificate (trust it for directory requests). */
  tlsCaPem: string;
  /** An agent trusting `tlsCaPem`, for direct HTTPS calls to Pebble. */
  agent: https.Agent;
  /** The port Pebble dials for HTTP-01 validation (serve the challenge responder there). */
  httpChallengePort: number;
  managementUrl: string;
  /** challtestsrv's DNS port on 127.0.0.1 (UDP and TCP): the server Pebble resolves through, for direct DNS queries in tests. */
  readonly dnsPort: number;
  /** Pebble's current root (it changes on every start): the trust anchor of issued certificates. */
  rootPem(): Promise<string>;
  /** EAB credentials Pebble accepts (only when started with `eab: true`). */
  eab?: { kid: string; hmacKey: string };
  dns: ChallTestSrv;
  /** Restarts Pebble only (same ports and config; Pebble's state, accounts and orders, is lost). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** pebble-challtestsrv's management API (https://github.com/letsencrypt/pebble/tree/main/cmd/pebble-challtestsrv). */
export interface ChallTestSrv {
  managementUrl: string;
  setTxt(host: string, value: string): Promise<void>;
  clearTxt(host: string): Promise<void>;
  addA(host: string, addresses?: string[]): Promise<void>;
  setCname(host: string, target: string): Promise<void>;
  clearCname(host: string): Promise<void>;
}

/** EAB keys in Pebble's format (base64url HMAC keys), taken from the reference EAB config. */
export const PEBBLE_EAB_KEYS: Record<string, string> = {
  'kid-1': 'zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W',
  'kid-2': 'b10lLJs8l1GPIzsLP0s6pMt8O0XVGnfTaCeROxQM0BIt2XrJMDHJZBM5NuQmQJQH',
};

/** How long to wait for a started Pebble to answer its directory (it starts in ~100 ms here). */
const STARTUP_TIMEOUT_MS = 10_000;
const STARTUP_POLL_MS = 50;

const live = new Set<number>();
let exitHookInstalled = false;

export async function startPebble(options: PebbleOptions = {}): Promise<PebbleHandle> {
  installExitHook();
  const dir = mkdtempSync(join(tmpdir(), 'certops-pebble-'));
  const tls = await localhostTlsMaterial('certops test Pebble TLS CA');
  writeFileSync(join(dir, 'cert.pem'), tls.certPem);
  writeFileSync(join(dir, 'key.pem'), tls.keyPem, { mode: 0o600 });

  const [acmePort, mgmtPort, httpChallengePort, tlsPort, dnsPort, dnsMgmtPort] = await freePorts(6);
  const config = {
    pebble: {
      listenAddress: `127.0.0.1:${acmePort}`,
      managementListenAddress: `127.0.0.1:${mgmtPort}`,
      certificate: join(dir, 'cert.pem'),
      privateKey: join(dir, 'key.pem'),
      httpPort: httpChallengePort,
      tlsPort,
      ocspResponderURL: '',
      externalAccountBindingRequired: options.eab ?? false,
      ...(options.eab ? { externalAccountMACKeys: PEBBLE_EAB_KEYS } : {}),
      retryAfter: { authz: 1, order: 1 },
    },
  };
  const configPath = join(dir, 'pebble-config.json');
  writeFileSync(configPath, JSON.stringify(config, null, 2));

  const dnsGroup = launch('pebble-challtestsrv', [
    '-dns01', `127.0.0.1:${dnsPort}`,
    '-management', `127.0.0.1:${dnsMgmtPort}`,
    '-http01', '',
    '-https01', '',
    '-tlsalpn01', '',
    '-defaultIPv4', '127.0.0.1',
    '-defaultIPv6', '',
  ], {});
  const pebbleEnv = { PEBBLE_VA_NOSLEEP: '1', PEBBLE_AUTHZREUSE: '0', ...options.env };
  const startPebbleProcess = () => launch('pebble', ['-config', configPath, '-dnsserver', `127.0.0.1:${dnsPort}`], pebbleEnv);
  let pebbleGroup = startPebbleProcess();

  const agent = new https.Agent({ ca: tls.caPem, keepAlive: false });
  const directoryUrl = `https://localhost:${acmePort}/dir`;
  const managementUrl = `https://localhost:${mgmtPort}`;
  const dnsManagementUrl = `http://127.0.0.1:${dnsMgmtPort}`;

  const stopGroup = async (group: Launched) => {
    live.delete(group.pgid);
    try {
      process.kill(-group.pgid, 'SIGTERM');
    } catch {
      // already gone
    }
    await group.exited;
  };

  const handle: PebbleHandle = {
    directoryUrl,
    tlsCaPem: tls.caPem,
    agent,
    httpChallengePort,
    managementUrl,
    dnsPort,
    rootPem: async () => (await request(`${managementUrl}/roots/0`, { agent })).body,
    eab: options.eab ? { kid: 'kid-1', hmacKey: PEBBLE_EAB_KEYS['kid-1'] } : undefined,
    dns: challTestSrv(dnsManagementUrl),
    restart: async () => {
      await stopGroup(pebbleGroup);
      pebbleGroup = startPebbleProcess();
      await waitUntilUp(directoryUrl, agent, pebbleGroup);
    },
    stop: async () => {
      await Promise.all([stopGroup(pebbleGroup), stopGroup(dnsGroup)]);
      agent.destroy();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await Promise.all([waitUntilUp(directoryUrl, agent, pebbleGroup), waitUntilUp(`${dnsManagementUrl}/`, undefined, dnsGroup)]);
  } catch (err) {
    await handle.stop();
    throw err;
  }
  return handle;
}

function challTestSrv(managementUrl: string): ChallTestSrv {
  const post = async (path: string, body: object) => {
    const res = await request(`${managementUrl}${path}`, { method: 'POST', body: JSON.stringify(body) });
    if (res.status !== 200) throw new Error(`challtestsrv ${path} answered ${res.status}: ${res.body}`);
  };
  // challtestsrv expects fully qualified names with the trailing dot.
  const fqdn = (host: string) => (host.endsWith('.') ? host : `${host}.`);
  return {
    managementUrl,
    setTxt: (host, value) => post('/set-txt', { host: fqdn(host), value }),
    clearTxt: (host) => post('/clear-txt', { host: fqdn(host) }),
    addA: (host, addresses = ['127.0.0.1']) => post('/add-a', { host: fqdn(host), addresses }),
    setCname: (host, target) => post('/set-cname', { host: fqdn(host), target: fqdn(target) }),
    clearCname: (host) => post('/clear-cname', { host: fqdn(host) }),
  };
}

interface Launched {
  pgid: number;
  exited: Promise<void>;
  output: () => string;
}

/**
 * Runs `command` under an `sh` watchdog in a new process group. The watchdog polls the jest
 * process and kills its child when that process is gone, so a crashed worker leaves nothing behind.
 */
function launch(command: string, args: string[], env: Record<string, string>): Launched {
  const script =
    'P=$1; shift; "$@" & C=$!; trap \'kill $C 2>/dev/null; wait $C; exit 0\' TERM INT; ' +
    'while kill -0 "$P" 2>/dev/null && kill -0 "$C" 2>/dev/null; do sleep 0.5; done; kill $C 2>/dev/null; wait $C';
  const child: ChildProcess = spawn('sh', ['-c', script, 'watchdog', String(process.pid), command, ...args], {
    detached: true,
    // PATH (the watchdog finds pebble and sleep), LANG, HOME and Pebble's own settings: nothing
    // of certops' environment (its master key, an Azure secret) reaches the lab's processes.
    env: childEnvironment(process.env, [], { set: env, child: command }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-8000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const pgid = child.pid!;
  live.add(pgid);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  exited.then(() => live.delete(pgid));
  return { pgid, exited, output: () => output };
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const pgid of live) {
      try {
        process.kill(-pgid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });
}

async function waitUntilUp(url: string, agent: https.Agent | undefined, group: Launched): Promise<void> {
  let gone = false;
  void group.exited.then(() => (gone = true));
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  for (;;) {
    if (gone) throw new Error(`process for ${url} exited during startup:\n${group.output()}`);
    try {
      const res = await request(url, { agent });
      if (res.status < 500) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${url} did not answer within ${STARTUP_TIMEOUT_MS} ms:\n${group.output()}`);
    await new Promise((r) => setTimeout(r, STARTUP_POLL_MS));
  }
}


/** Free TCP ports on loopback (the DNS port is also bound on UDP by challtestsrv; UDP is rarely contended). */
async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () => new Promise<net.Server>((resolve, reject) => {
      const server = net.createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve(server));
    })),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

function request(url: string, options: { method?: string; body?: string; agent?: https.Agent }): Promise<{ status: number; body: string }> {
  const lib = url.startsWith('https:') ? https : http;
  return new Promise((resolve, reject) => {
    const req = lib.request(url, { method: options.method ?? 'GET', agent: options.agent, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`timeout for ${url}`)));
    req.on('error', reject);
    req.end(options.body);
  });
}
