/**
 * Resolvers: host name → every address (A and AAAA), sorted so that sweeps compare.
 * - SystemResolver asks the system's DNS servers through c-ares (node:dns/promises resolve4 and
 *   resolve6: asynchronous, no libuv thread pool), and falls back to getaddrinfo (`lookup`) for
 *   names only /etc/hosts knows.
 * - StaticResolver answers from a fixed map (tests, the demo, pinned endpoints) and hands other
 *   names to an optional fallback.
 */
import * as dns from 'node:dns/promises';
import * as net from 'node:net';
import { NameResolutionError, type Resolver } from '../../ports/resolver';

/** The DNS calls SystemResolver makes; injectable so tests need no DNS server. */
export interface DnsBackend {
  resolve4(host: string): Promise<string[]>;
  resolve6(host: string): Promise<string[]>;
  lookup(host: string, options: { all: true }): Promise<Array<{ address: string; family: number }>>;
}

export interface SystemResolverOptions {
  /** Per-query timeout of c-ares, in ms. Default 2000. */
  timeoutInMs?: number;
  /** Attempts per DNS server. Default 2. */
  tries?: number;
  /** Replaces node:dns (tests). */
  dns?: DnsBackend;
}

/** Resolver over the system's DNS configuration. Honours `abortSignal` (rejects with AbortError). */
export class SystemResolver implements Resolver {
  private readonly dns: DnsBackend;

  constructor(options: SystemResolverOptions = {}) {
    if (options.dns) {
      this.dns = options.dns;
    } else {
      const resolver = new dns.Resolver({ timeout: options.timeoutInMs ?? 2000, tries: options.tries ?? 2 });
      this.dns = {
        resolve4: (host) => resolver.resolve4(host),
        resolve6: (host) => resolver.resolve6(host),
        lookup: (host, lookupOptions) => dns.lookup(host, lookupOptions),
      };
    }
  }

  async resolve(host: string, options: { abortSignal?: AbortSignal } = {}): Promise<string[]> {
    const signal = options.abortSignal;
    signal?.throwIfAborted();
    const name = normalizeHost(host);
    if (net.isIP(name)) return [name];
    if (name === '') throw new NameResolutionError(host, 'EBADNAME', `"${host}" is not a host name`);
    // RFC 6761 §6.4: resolver libraries SHOULD answer names under .invalid with "does not exist"
    // at once, without a query.
    if (name === 'invalid' || name.endsWith('.invalid')) {
      throw notFound(host, 'ENOTFOUND', 'names under .invalid never exist (RFC 6761 §6.4)');
    }
    // RFC 6761 §6.3: localhost names are not sent to DNS; the hosts file answers them.
    if (name === 'localhost' || name.endsWith('.localhost')) return this.fromHostsFile(host, name, signal);
    const [v4, v6] = await untilAborted(Promise.allSettled([this.dns.resolve4(name), this.dns.resolve6(name)]), signal);
    const addresses = [v4, v6].flatMap((r) => (r.status === 'fulfilled' ? r.value : []));
    if (addresses.length > 0) return sortAddresses(addresses);
    // DNS's answer (NXDOMAIN, SERVFAIL, timeout…) is the one to report if the hosts file has nothing.
    const dnsCode = [v4, v6].map(errorCode).find((code) => code !== 'ENODATA') ?? 'ENODATA';
    return this.fromHostsFile(host, name, signal, dnsCode);
  }

  /** getaddrinfo: /etc/hosts (and whatever nsswitch adds) for names DNS does not know. */
  private async fromHostsFile(host: string, name: string, signal: AbortSignal | undefined, dnsCode?: string): Promise<string[]> {
    let code = dnsCode;
    try {
      const found = await untilAborted(this.dns.lookup(name, { all: true }), signal);
      if (found.length > 0) return sortAddresses(found.map((a) => a.address));
    } catch (err) {
      if (isAbort(err)) throw err;
      code ??= errorCode({ status: 'rejected', reason: err });
    }
    throw notFound(host, code ?? 'ENOTFOUND', 'DNS has no A or AAAA record and the hosts file has no entry');
  }
}

/**
 * Resolver answering from a fixed map. Names in the map never reach the fallback (an empty list
 * throws ENODATA); other names go to the fallback, or throw ENOTFOUND when there is none. Names
 * compare case-insensitively, without a trailing dot.
 */
export class StaticResolver implements Resolver {
  private readonly table = new Map<string, string[]>();

  constructor(
    entries: Record<string, string[]> | Map<string, string[]>,
    private readonly fallback?: Resolver,
  ) {
    for (const [host, addresses] of entries instanceof Map ? entries : Object.entries(entries)) {
      const invalid = addresses.filter((a) => !net.isIP(a));
      if (invalid.length > 0) throw new TypeError(`StaticResolver: ${host} maps to non-IP ${invalid.join(', ')}`);
      this.table.set(normalizeHost(host), sortAddresses(addresses));
    }
  }

  async resolve(host: string, options: { abortSignal?: AbortSignal } = {}): Promise<string[]> {
    options.abortSignal?.throwIfAborted();
    const name = normalizeHost(host);
    if (net.isIP(name)) return [name];
    const addresses = this.table.get(name);
    if (addresses) {
      if (addresses.length === 0) throw notFound(host, 'ENODATA', 'the static map lists it with no address');
      return [...addresses];
    }
    if (this.fallback) return this.fallback.resolve(host, options);
    throw notFound(host, 'ENOTFOUND', 'it is not in the static map and there is no fallback resolver');
  }
}

/** Lower case, no trailing dot, no brackets around an IPv6 literal. */
export function normalizeHost(host: string): string {
  const name = host.trim().toLowerCase().replace(/\.$/, '');
  return name.startsWith('[') && name.endsWith(']') ? name.slice(1, -1) : name;
}

/** Deduplicated; IPv4 before IPv6; numeric order within a family (10.0.0.9 before 10.0.0.10). */
export function sortAddresses(addresses: string[]): string[] {
  return [...new Set(addresses)].sort((a, b) => Buffer.compare(sortKey(a), sortKey(b)) || a.localeCompare(b));
}

function sortKey(address: string): Buffer {
  const [ip] = address.split('%'); // a zone id does not change the order
  if (net.isIPv4(ip)) return Buffer.from([4, ...ip.split('.').map(Number)]);
  return Buffer.concat([Buffer.from([6]), ipv6Bytes(ip)]);
}

function ipv6Bytes(ip: string): Buffer {
  const [head, tail = ''] = ip.includes('::') ? ip.split('::') : [ip, undefined];
  const groups = (part: string): number[] =>
    part === ''
      ? []
      : part.split(':').flatMap((g) => (g.includes('.') ? ((o) => [(o[0] << 8) | o[1], (o[2] << 8) | o[3]])(g.split('.').map(Number)) : [parseInt(g, 16)]));
  const left = groups(head);
  const right = ip.includes('::') ? groups(tail) : [];
  const words = [...left, ...new Array(8 - left.length - right.length).fill(0), ...right];
  const bytes = Buffer.alloc(16);
  words.forEach((w, i) => bytes.writeUInt16BE(w & 0xffff, i * 2));
  return bytes;
}

function notFound(host: string, code: string, why: string): NameResolutionError {
  return new NameResolutionError(host, code, `cannot resolve ${host} (${code}): ${why}; check the name and the DNS configuration`);
}

function errorCode(result: PromiseSettledResult<unknown>): string {
  if (result.status === 'fulfilled') return 'ENODATA';
  const code = (result.reason as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : 'EUNKNOWN';
}

function isAbort(err: unknown): boolean {
  return err instanceof Error && err.name === 'AbortError';
}

/** Races a query against the signal; the query itself cannot be cancelled and is left to finish. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new DOMException('The resolution was aborted', 'AbortError'));
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => (signal.removeEventListener('abort', onAbort), resolve(value)),
      (err) => (signal.removeEventListener('abort', onAbort), reject(err)),
    );
  });
}
