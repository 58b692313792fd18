/**
 * The benchmark's TLS fleet, run in a CHILD process so that its servers use the other core while
 * the measured client (certops, nmap or the bare loop) uses this one. Driven over IPC:
 *
 *   parent → { kind: 'start', leafFile, servers: [{ leaves: number[] }] }
 *            each server listens on 127.0.0.1:0 and serves leaf `leaves[i]` (+ the CA) to the SNI
 *            name of that leaf; the first leaf is the default (no SNI / unknown name).
 *   child  → { kind: 'ready', ports, rssMB }
 *   parent → { kind: 'stats' }   child → { kind: 'stats', connections, maxRssMB }
 *
 * The child exits when its parent's IPC channel closes (parent done, crashed or killed), so no
 * server outlives the benchmark.
 */
import { readFileSync } from 'node:fs';
import * as net from 'node:net';
import * as tls from 'node:tls';
import type { LeafSet } from './certs';
import { peakRssMB } from './memory';

export interface FleetStart {
  kind: 'start';
  leafFile: string;
  servers: Array<{ leaves: number[] }>;
}

export type FleetReply =
  | { kind: 'ready'; ports: number[]; rssMB: number }
  | { kind: 'stats'; connections: number; maxRssMB: number }
  | { kind: 'error'; message: string };

const servers: tls.Server[] = [];
const sockets = new Set<net.Socket>();
let connections = 0;

function send(reply: FleetReply): void {
  process.send?.(reply);
}

async function start(request: FleetStart): Promise<void> {
  const set = JSON.parse(readFileSync(request.leafFile, 'utf8')) as LeafSet;
  const ports: number[] = [];
  for (const spec of request.servers) {
    // One SecureContext per name, built up front: what a real multi-tenant TLS terminator does.
    const contexts = new Map<string, tls.SecureContext>();
    for (const i of spec.leaves) {
      const leaf = set.leaves[i];
      contexts.set(leaf.host, tls.createSecureContext({ key: set.keyPem, cert: leaf.pem + set.caPem }));
    }
    const first = set.leaves[spec.leaves[0]];
    const fallback = contexts.get(first.host)!;
    const server = tls.createServer({
      // The default certificate, for clients that send no SNI (nmap scanning an IP address).
      key: set.keyPem,
      cert: first.pem + set.caPem,
      SNICallback: (name, callback) => callback(null, contexts.get(name.toLowerCase()) ?? fallback),
    });
    server.on('secureConnection', (socket) => {
      socket.on('error', () => undefined);
      socket.end();
    });
    // Counted on accept: a TLS 1.3 client that hangs up right after its handshake completes often
    // closes before the server emits 'secureConnection'.
    server.on('connection', (socket: net.Socket) => {
      connections += 1;
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
    });
    // Probes hang up right after the handshake: that is normal here, not an error.
    server.on('tlsClientError', () => undefined);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: '127.0.0.1', port: 0, backlog: 1024 }, () => resolve());
    });
    servers.push(server);
    ports.push((server.address() as net.AddressInfo).port);
  }
  send({ kind: 'ready', ports, rssMB: Math.round(process.memoryUsage().rss / 1048576) });
}

function shutdown(): void {
  for (const socket of sockets) socket.destroy();
  for (const server of servers) server.close();
  process.exit(0);
}

process.on('message', (message: FleetStart | { kind: 'stats' } | { kind: 'stop' }) => {
  if (message.kind === 'start') {
    start(message).catch((err: unknown) => send({ kind: 'error', message: err instanceof Error ? err.message : String(err) }));
  } else if (message.kind === 'stats') {
    send({ kind: 'stats', connections, maxRssMB: peakRssMB() });
  } else {
    shutdown();
  }
});
process.on('disconnect', shutdown);
