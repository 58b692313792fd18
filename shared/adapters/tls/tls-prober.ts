/**
 * TlsProber: the Prober port over a real `tls.connect`. It observes what one address presents on a
 * fresh, full handshake and decides nothing about it: the chain is returned unvalidated, exactly as
 * presented, for analysis to judge.
 *
 * Throughput matters (discovery sweeps thousands of endpoints), so per-probe work is one socket, two
 * timers and a handful of closures: the client SecureContext is created once per prober.
 */
import * as dgram from 'node:dgram';
import { getMaxListeners, setMaxListeners } from 'node:events';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { performance } from 'node:perf_hooks';
import type { ProbeErrorCode, ProbeRequest, ProbeResult, Prober } from '../../ports/prober';

export interface TlsProberOptions {
  /**
   * Accept TLS 1.0/1.1, weak keys and SHA-1 signatures so that legacy servers are still discovered
   * (OpenSSL 3 disables them at its default security level). Default true: finding those servers is
   * the point of discovery; the probe never sends anything secret over the connection.
   */
  allowLegacyProtocols?: boolean;
}

/** Connect errors meaning "no route to the host": the endpoint cannot be reached from here. */
const UNREACHABLE_CODES = new Set(['EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENETDOWN', 'ETIMEDOUT', 'EADDRNOTAVAIL']);
/**
 * Connect errors that certops' own routing table may give (no route, no source address, the family
 * not supported at all), but that ENETUNREACH and EHOSTUNREACH also report for an ICMP error from
 * a router on the way. Which one it was is asked of the kernel (hasRoute) before calling it no-route.
 */
const LOCAL_ROUTE_CODES = new Set(['ENETUNREACH', 'EHOSTUNREACH', 'EADDRNOTAVAIL', 'EAFNOSUPPORT']);
/** A guard against a pathological issuer walk; real chains are 2–5 certificates long. */
const MAX_CHAIN_LENGTH = 32;

/**
 * A Prober doing one fresh TLS handshake per probe.
 *
 * - Never resumes: no `session` is passed and Node's client SSL_CTX keeps no internal session cache
 *   (SSL_SESS_CACHE_NO_INTERNAL), so every probe is a full handshake showing the certificate.
 * - Returns the chain exactly as presented, leaf first (`getPeerX509Certificate().issuerCertificate`
 *   follows the presented order; `getPeerCertificate(true)` re-orders by issuance and silently drops
 *   unrelated or misordered certificates, which analysis needs to see).
 * - Tells 'no-route' (this host's routing table has no route to the address, e.g. an AAAA address
 *   on a host without IPv6: nothing was sent) apart from 'endpoint-unreachable' (timeouts, and an
 *   unreachable from the network on the way), so that analysis does not call it an outage.
 * - Resolves for every network outcome; rejects only on invalid requests (TypeError) and on abort
 *   (a DOMException named 'AbortError', as node's own APIs do).
 */
export class TlsProber implements Prober {
  private readonly secureContext: tls.SecureContext;

  constructor(options: TlsProberOptions = {}) {
    const legacy = options.allowLegacyProtocols ?? true;
    // `ca: []` gives an empty trust store: verification always fails, which we ignore
    // (rejectUnauthorized: false) and which skips node's checkServerIdentity work per probe.
    this.secureContext = tls.createSecureContext({
      ca: [],
      ...(legacy ? { minVersion: 'TLSv1' as const, ciphers: 'DEFAULT:@SECLEVEL=0' } : {}),
    });
  }

  probe(request: ProbeRequest): Promise<ProbeResult> {
    assertValid(request);
    const signal = request.abortSignal;
    if (signal?.aborted) return Promise.reject(abortError(signal));
    // A sweep shares one signal across many concurrent probes; each removes its listener when it
    // settles, so lift node's "possible leak" warning threshold (10) on that signal.
    if (signal) liftListenerLimit(signal);
    return new Promise<ProbeResult>((resolve, reject) => {
      const started = performance.now();
      let connected = false;
      let settled = false;
      /** Set while the kernel is asked whether it has a route: the socket's close must not settle meanwhile. */
      let askingRoute = false;
      const socket = tls.connect({
        host: request.address,
        port: request.port,
        servername: sniName(request.servername),
        secureContext: this.secureContext,
        rejectUnauthorized: false,
        checkServerIdentity: () => undefined,
      });
      let timer = setTimeout(() => fail('endpoint-unreachable', `connect timed out after ${request.connectTimeoutMs} ms`), request.connectTimeoutMs);

      const settle = (): boolean => {
        if (settled) return false;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        socket.destroy();
        return true;
      };
      function fail(code: ProbeErrorCode, message: string): void {
        if (settle()) resolve({ ok: false, error: { code, message: `${target(request)}: ${message}` }, durationMs: performance.now() - started });
      }
      function onAbort(): void {
        if (settle()) reject(abortError(signal!));
      }

      signal?.addEventListener('abort', onAbort, { once: true });
      socket.once('connect', () => {
        connected = true;
        clearTimeout(timer);
        timer = setTimeout(() => fail('handshake-timeout', `no handshake within ${request.handshakeTimeoutMs} ms`), request.handshakeTimeoutMs);
      });
      socket.once('secureConnect', () => {
        const chain = presentedChain(socket);
        const protocol = socket.getProtocol();
        if (chain.length === 0) return fail('no-certificate', 'the peer completed the handshake without a certificate');
        if (settle()) resolve({ ok: true, chain, protocol, durationMs: performance.now() - started });
      });
      socket.on('error', (err: NodeJS.ErrnoException) => {
        if (askingRoute) return;
        if (connected || !LOCAL_ROUTE_CODES.has(err.code ?? '')) return fail(classify(err, connected), err.message);
        askingRoute = true;
        void hasRoute(request.address, request.port).then((route) =>
          // Only the routing table's own answers count: e.g. EMFILE says nothing about routes.
          !route.routed && LOCAL_ROUTE_CODES.has(route.code)
            ? fail('no-route', `certops has no ${familyOf(request.address)} route to this address (${route.code}): ${err.message}`)
            : fail(classify(err, connected), err.message),
        );
      });
      // Normally preceded by 'error'; this covers a silent close before the handshake finished.
      socket.once('close', () => {
        if (!askingRoute) fail(connected ? 'handshake-failed' : 'endpoint-unreachable', 'connection closed before the handshake completed');
      });
    });
  }
}

function presentedChain(socket: tls.TLSSocket): Buffer[] {
  const chain: Buffer[] = [];
  let cert = socket.getPeerX509Certificate();
  while (cert && chain.length < MAX_CHAIN_LENGTH) {
    const der = cert.raw;
    // Stop at self-reference: node links a self-signed last certificate to itself.
    if (chain.some((seen) => seen.equals(der))) break;
    chain.push(der);
    cert = cert.issuerCertificate;
  }
  return chain;
}

/**
 * Does certops' host have a route to the address? A UDP connect makes the kernel pick a route and a
 * source address for it and sends nothing (glibc's getaddrinfo does the same to learn source
 * addresses for RFC 6724 destination address selection). Never rejects: a failure, including
 * one to set the socket up (EAFNOSUPPORT on a host without IPv6), comes back with its code.
 */
function hasRoute(address: string, port: number): Promise<{ routed: true } | { routed: false; code: string }> {
  return new Promise((resolve) => {
    let socket: dgram.Socket;
    const done = (err: NodeJS.ErrnoException | null): void => {
      socket.removeAllListeners('error');
      socket.removeAllListeners('connect');
      socket.on('error', () => undefined); // the socket is going away; nothing more to learn
      try {
        socket.close();
      } catch {
        // already closed by a failed bind
      }
      resolve(err ? { routed: false, code: err.code ?? 'EUNKNOWN' } : { routed: true });
    };
    try {
      socket = dgram.createSocket(net.isIPv6(address) ? 'udp6' : 'udp4');
      // Without a callback, a failed connect is an 'error' event (with one, node passes it the error).
      socket.once('connect', () => done(null));
      socket.once('error', done);
      socket.connect(port, address);
    } catch (err) {
      resolve({ routed: false, code: (err as NodeJS.ErrnoException).code ?? 'EUNKNOWN' });
    }
  });
}

function familyOf(address: string): 'IPv4' | 'IPv6' {
  return net.isIPv6(address) ? 'IPv6' : 'IPv4';
}

function classify(err: NodeJS.ErrnoException, connected: boolean): ProbeErrorCode {
  if (err.code === 'ECONNREFUSED') return 'connection-refused';
  if (!connected || UNREACHABLE_CODES.has(err.code ?? '')) return 'endpoint-unreachable';
  // EPROTO, ERR_SSL_*, alerts, ECONNRESET, EPIPE: the peer answered but no handshake came of it.
  return 'handshake-failed';
}

/** RFC 6066 §3: SNI carries a DNS host name without a trailing dot; IP literals are not permitted. */
function sniName(servername: string | undefined): string | undefined {
  if (!servername) return undefined;
  const name = servername.endsWith('.') ? servername.slice(0, -1) : servername;
  return net.isIP(name) === 0 && name.length > 0 ? name : undefined;
}

function target(request: ProbeRequest): string {
  const host = net.isIPv6(request.address) ? `[${request.address}]` : request.address;
  return request.servername ? `${host}:${request.port} (${request.servername})` : `${host}:${request.port}`;
}

function liftListenerLimit(signal: AbortSignal): void {
  try {
    if (getMaxListeners(signal) !== 0) setMaxListeners(0, signal);
  } catch {
    // A signal from another realm (e.g. a test sandbox) is not recognised by node:events; the
    // only cost of skipping is the warning.
  }
}

function abortError(signal: AbortSignal): DOMException {
  const error = new DOMException('The probe was aborted', 'AbortError');
  (error as { cause?: unknown }).cause = signal.reason;
  return error;
}

function assertValid(request: ProbeRequest): void {
  if (!Number.isInteger(request.port) || request.port < 1 || request.port > 65535) {
    throw new TypeError(`probe: port must be an integer in 1..65535, got ${request.port}`);
  }
  for (const key of ['connectTimeoutMs', 'handshakeTimeoutMs'] as const) {
    if (!(request[key] > 0)) throw new TypeError(`probe: ${key} must be a positive number, got ${request[key]}`);
  }
}
