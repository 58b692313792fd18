/**
 * TlsFleet: real HTTPS servers on loopback for the demo, the tests and the benchmark, plus a small
 * HTTP control server that hot-swaps a server's certificate the way a deployer would
 * (`server.setSecureContext()`: new handshakes get the new certificate, none fail).
 *
 * Only loopback addresses are accepted (127.0.0.0/8, ::1): the fleet is a stand-in, never a service.
 */
import * as fs from 'node:fs/promises';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { Worker } from 'node:worker_threads';

export interface FleetFiles {
  /** PEM leaf certificate; may be followed by intermediates. */
  certFile: string;
  /** PEM private key of the leaf. */
  keyFile: string;
  /** PEM intermediates (or a full chain); certificates already in certFile are not sent twice. */
  chainFile?: string;
}

export interface FleetServerSpec extends FleetFiles {
  /** Unique name, used by endpoint(), reload() and the control URL. */
  name: string;
  /** Loopback address; default 127.0.0.1 (127.0.0.2… are loopback too on Linux). */
  address?: string;
  /** Default 0: a free port. */
  port?: number;
  /** Certificates chosen by SNI host name (case-insensitive; `*.example.test` matches one label). */
  sni?: Record<string, FleetFiles>;
  /** Protocol knobs, e.g. `{ maxVersion: 'TLSv1.2' }` to stand in for an old server. */
  tls?: Pick<tls.SecureContextOptions, 'minVersion' | 'maxVersion' | 'ciphers'>;
}

export interface FleetEndpoint {
  name: string;
  address: string;
  port: number;
}

interface FleetServer {
  spec: FleetServerSpec;
  server: https.Server;
  endpoint: FleetEndpoint;
  sniContexts: Map<string, tls.SecureContext>;
  sockets: Set<net.Socket>;
}

interface LoadedMaterial {
  options: tls.SecureContextOptions;
  sniContexts: Map<string, tls.SecureContext>;
}

/** A fleet of HTTPS servers on loopback with a reload control endpoint. */
export class TlsFleet {
  private constructor(
    private readonly servers: Map<string, FleetServer>,
    private readonly control: http.Server,
    /** Base URL of the control server, e.g. `http://127.0.0.1:40123`. */
    readonly controlUrl: string,
  ) {}

  /** Starts every server (and the control server on `controlPort`, default a free port). */
  static async start(specs: FleetServerSpec[], options: { controlPort?: number } = {}): Promise<TlsFleet> {
    const names = new Set<string>();
    for (const spec of specs) {
      if (names.has(spec.name)) throw new Error(`fleet: duplicate server name "${spec.name}"`);
      names.add(spec.name);
      assertLoopback(spec.address ?? '127.0.0.1');
    }
    const servers = new Map<string, FleetServer>();
    let fleet: TlsFleet | undefined;
    const control = http.createServer((req, res) => void fleet?.handleControl(req, res));
    try {
      for (const spec of specs) servers.set(spec.name, await startServer(spec));
      await listen(control, '127.0.0.1', options.controlPort ?? 0);
    } catch (err) {
      await Promise.all([...servers.values()].map(closeServer));
      if (control.listening) control.close();
      throw err;
    }
    const { port } = control.address() as net.AddressInfo;
    fleet = new TlsFleet(servers, control, `http://127.0.0.1:${port}`);
    return fleet;
  }

  /** The address and port a server listens on. Throws for an unknown name. */
  endpoint(name: string): { address: string; port: number } {
    const { address, port } = this.get(name).endpoint;
    return { address, port };
  }

  /** Every server's endpoint, in start order. */
  endpoints(): FleetEndpoint[] {
    return [...this.servers.values()].map((s) => ({ ...s.endpoint }));
  }

  /** `POST` here re-reads the server's files and swaps them in (204; 404 unknown; 500 unloadable). */
  reloadUrl(name: string): string {
    return `${this.controlUrl}/reload/${encodeURIComponent(name)}`;
  }

  /**
   * A reload command (argv, no shell) that POSTs the reload URL of every named server and fails
   * when any of them refuses: the deployment target of several servers that share their files.
   */
  reloadCommand(names: string[]): string[] {
    return [
      process.execPath,
      '-e',
      `Promise.all(process.argv.slice(1).map((u) => fetch(u, { method: 'POST' }).then((r) => { if (!r.ok) throw new Error(u + ' ' + r.status); }))).catch((e) => { console.error(e.message); process.exit(1); })`,
      ...names.map((name) => this.reloadUrl(name)),
    ];
  }

  /**
   * Re-reads the server's certificate, key and SNI files and swaps them in with
   * `setSecureContext()`. All files are loaded and validated first: on any error this throws and
   * the server keeps serving its old certificates.
   */
  async reload(name: string): Promise<void> {
    const server = this.get(name);
    const material = await loadMaterial(server.spec);
    server.server.setSecureContext(material.options);
    server.sniContexts = material.sniContexts;
  }

  /** Closes every server and the control server, cutting open connections. */
  async close(): Promise<void> {
    this.control.closeAllConnections();
    await Promise.all([...[...this.servers.values()].map(closeServer), new Promise((r) => this.control.close(r))]);
  }

  private get(name: string): FleetServer {
    const server = this.servers.get(name);
    if (!server) throw new Error(`fleet: no server named "${name}"`);
    return server;
  }

  private async handleControl(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const match = /^\/reload\/([^/?]+)$/.exec(req.url ?? '');
    req.resume();
    if (!match) return void res.writeHead(404).end('not found\n');
    if (req.method !== 'POST') return void res.writeHead(405, { allow: 'POST' }).end('use POST\n');
    const name = safeDecode(match[1]);
    if (name === undefined || !this.servers.has(name)) return void res.writeHead(404).end(`no server named "${name}"\n`);
    try {
      await this.reload(name);
      res.writeHead(204).end();
    } catch (err) {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`${err instanceof Error ? err.message : String(err)}\n`);
    }
  }
}

async function startServer(spec: FleetServerSpec): Promise<FleetServer> {
  const material = await loadMaterial(spec);
  const sockets = new Set<net.Socket>();
  const fleetServer: FleetServer = {
    spec,
    server: undefined as unknown as https.Server,
    endpoint: { name: spec.name, address: spec.address ?? '127.0.0.1', port: 0 },
    sniContexts: material.sniContexts,
    sockets,
  };
  const server = https.createServer(
    {
      ...material.options,
      SNICallback: (servername, callback) => callback(null, lookupSni(fleetServer.sniContexts, servername)),
    },
    (_req, res) => res.end(`${spec.name}\n`),
  );
  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  // Probes hang up right after the handshake; that is their normal behaviour, not an error.
  server.on('tlsClientError', () => undefined);
  fleetServer.server = server;
  await listen(server, fleetServer.endpoint.address, spec.port ?? 0);
  fleetServer.endpoint.port = (server.address() as net.AddressInfo).port;
  return fleetServer;
}

async function loadMaterial(spec: FleetServerSpec): Promise<LoadedMaterial> {
  const options = { ...(await readFiles(spec)), ...spec.tls };
  tls.createSecureContext(options); // validates (key matches certificate, PEM parses) before any swap
  const sniContexts = new Map<string, tls.SecureContext>();
  for (const [host, files] of Object.entries(spec.sni ?? {})) {
    sniContexts.set(normalizeHost(host), tls.createSecureContext({ ...(await readFiles(files)), ...spec.tls }));
  }
  return { options, sniContexts };
}

async function readFiles(files: FleetFiles): Promise<{ key: string; cert: string }> {
  const [key, cert, chain] = await Promise.all([
    fs.readFile(files.keyFile, 'utf8'),
    fs.readFile(files.certFile, 'utf8'),
    files.chainFile ? fs.readFile(files.chainFile, 'utf8') : Promise.resolve(''),
  ]);
  const blocks = [...pemCertificates(cert), ...pemCertificates(chain)];
  if (blocks.length === 0) throw new Error(`fleet: no PEM certificate in ${files.certFile}`);
  return { key, cert: [...new Set(blocks)].join('\n') + '\n' };
}

function pemCertificates(text: string): string[] {
  return (text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? []).map((b) => b.replace(/\r/g, ''));
}

function lookupSni(contexts: Map<string, tls.SecureContext>, servername: string): tls.SecureContext | undefined {
  const host = normalizeHost(servername);
  const dot = host.indexOf('.');
  // undefined makes node use the server's default context.
  return contexts.get(host) ?? (dot > 0 ? contexts.get(`*${host.slice(dot)}`) : undefined);
}

function normalizeHost(host: string): string {
  return host.toLowerCase().replace(/\.$/, '');
}

/** Throws unless the address is IPv4 loopback (127.0.0.0/8) or ::1. */
export function assertLoopback(address: string): void {
  const loopback = (net.isIPv4(address) && address.startsWith('127.')) || address === '::1';
  if (!loopback) throw new Error(`fleet: ${address} is not a loopback address; the fleet serves loopback only`);
}

function safeDecode(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined; // malformed %-escape: no server can have that name
  }
}

function listen(server: net.Server, address: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: address, port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

async function closeServer(s: { server: net.Server; sockets: Set<net.Socket> }): Promise<void> {
  const closed = new Promise<void>((resolve) => s.server.close(() => resolve()));
  for (const socket of s.sockets) socket.destroy();
  await closed;
}

export interface PeerAddress {
  address: string;
  port: number;
}

/** Peers that fail in the ways real endpoints do, for prober tests. All on 127.0.0.1. */
export interface MisbehavingPeers {
  /** Accepts, writes non-TLS bytes (an HTTP error), then closes: a handshake failure. */
  garbage: PeerAddress;
  /** Accepts and never answers: a handshake timeout. */
  silent: PeerAddress;
  /** A port nothing listens on (bound, then closed): a refused connection. */
  refusedPort: number;
  /**
   * A listening socket whose accept queue is full and never drained, so the kernel drops new SYNs
   * and connect() times out: a real "unreachable" on loopback. Undefined when the kernel would not
   * drop SYNs here (see `blackholeUnavailableReason`).
   */
  blackhole?: PeerAddress;
  blackholeUnavailableReason?: string;
  close(): Promise<void>;
}

/** Starts the misbehaving peers; close() stops them. */
export async function startMisbehavingPeers(): Promise<MisbehavingPeers> {
  const host = '127.0.0.1';
  const sockets = new Set<net.Socket>();
  const track = (socket: net.Socket): void => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.once('close', () => sockets.delete(socket));
  };
  const garbage = net.createServer((socket) => {
    track(socket);
    socket.end('HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
  });
  const silent = net.createServer(track);
  const refused = net.createServer();
  await Promise.all([listen(garbage, host, 0), listen(silent, host, 0), listen(refused, host, 0)]);
  const refusedPort = (refused.address() as net.AddressInfo).port;
  await new Promise((resolve) => refused.close(resolve));
  const blackhole = await startBlackhole(host);
  return {
    garbage: { address: host, port: (garbage.address() as net.AddressInfo).port },
    silent: { address: host, port: (silent.address() as net.AddressInfo).port },
    refusedPort,
    blackhole: blackhole.address,
    blackholeUnavailableReason: blackhole.reason,
    async close() {
      for (const socket of sockets) socket.destroy();
      await Promise.all([new Promise((r) => garbage.close(r)), new Promise((r) => silent.close(r)), blackhole.close()]);
    },
  };
}

/**
 * The listening socket lives in a worker thread that blocks in Atomics.wait right after listen(),
 * so its event loop never accepts. With backlog 1 the queue holds two connections (Linux: full when
 * more than `backlog` are queued); once it is full the kernel drops SYNs (tcp_conn_request: "listen
 * overflow") and the client's connect() times out. Filler connections are made until one stalls.
 */
async function startBlackhole(host: string): Promise<{ address?: PeerAddress; reason?: string; close(): Promise<void> }> {
  const gate = new Int32Array(new SharedArrayBuffer(4));
  const worker = new Worker(
    `const net = require('node:net');
     const { workerData, parentPort } = require('node:worker_threads');
     const server = net.createServer().listen({ host: workerData.host, port: 0, backlog: 1 }, () => {
       parentPort.postMessage(server.address().port);
       Atomics.wait(workerData.gate, 0, 0);
       server.close();
     });`,
    { eval: true, workerData: { host, gate } },
  );
  const port = await new Promise<number>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  const fillers: net.Socket[] = [];
  let stalled = false;
  for (let i = 0; i < 16 && !stalled; i++) {
    const socket = net.connect({ host, port });
    socket.on('error', () => undefined);
    fillers.push(socket);
    stalled = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(true), 250);
      socket.once('connect', () => (clearTimeout(timer), resolve(false)));
      socket.once('error', () => (clearTimeout(timer), resolve(false)));
    });
  }
  const close = async (): Promise<void> => {
    for (const socket of fillers) socket.destroy();
    Atomics.store(gate, 0, 1);
    Atomics.notify(gate, 0);
    await worker.terminate();
  };
  if (!stalled) {
    await close();
    return { reason: 'the kernel accepted every connection to a never-accepting listener (no SYN drop)', close: async () => undefined };
  }
  fillers.pop()?.destroy();
  return { address: { address: host, port }, close };
}
