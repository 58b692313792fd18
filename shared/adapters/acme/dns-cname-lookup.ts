/**
 * DnsCnameLookup: what `_acme-challenge.<domain>` is delegated to, asked of a chosen DNS server.
 *
 * Observes: the CNAME record at `_acme-challenge.<domain>` (RFC 8555 §8.4 names the record).
 * Decides: nothing; it feeds dns01-readiness, which decides direct, delegated or unavailable.
 *
 * Asks the given servers (node:dns `Resolver.setServers`), not the host's resolver, so the answer
 * is the one the CA will see (in tests, challtestsrv; in production, a public recursive resolver
 * or the zone's authoritative servers, which avoids a stale local cache). Only the first hop of a
 * CNAME chain is returned: that is the name certops must be able to write.
 */
import { Resolver } from 'node:dns/promises';
import { RetryableError } from '../../domain/errors';
import type { DnsRecordLookup } from '../../ports/dns-record-lookup';

/** One try of a few seconds: a slow answer is retried by the caller's schedule, not inline. */
export const DEFAULT_CNAME_LOOKUP_TIMEOUT_MS = 3_000;

/** Resolver codes that mean "the name has no CNAME" rather than "the lookup failed". */
const NO_CNAME = new Set(['ENODATA', 'ENOTFOUND']);

export interface DnsCnameLookupOptions {
  /** Per query; default DEFAULT_CNAME_LOOKUP_TIMEOUT_MS. */
  timeoutInMs?: number;
}

export class DnsCnameLookup implements DnsRecordLookup {
  /** @param servers `ip` or `ip:port` (IPv6 as `[ip]:port`), as node:dns setServers takes them */
  constructor(
    private readonly servers: string[],
    private readonly options: DnsCnameLookupOptions = {},
  ) {}

  /**
   * The CNAME target of `_acme-challenge.<domain>` without the trailing dot, or null when the
   * name has no CNAME (or does not exist). A wildcard `*.x` is asked as `x`. Throws
   * RetryableError when the servers time out, refuse or fail (SERVFAIL); honours abortSignal.
   */
  async challengeCname(domain: string, options: { abortSignal?: AbortSignal } = {}): Promise<string | null> {
    const { abortSignal } = options;
    abortSignal?.throwIfAborted();
    const name = `_acme-challenge.${domain.toLowerCase().replace(/\.+$/, '').replace(/^\*\./, '')}`;
    const resolver = new Resolver({ timeout: this.options.timeoutInMs ?? DEFAULT_CNAME_LOOKUP_TIMEOUT_MS, tries: 1 });
    resolver.setServers(this.servers);
    const onAbort = () => resolver.cancel();
    abortSignal?.addEventListener('abort', onAbort, { once: true });
    try {
      const [target] = await resolver.resolveCname(name);
      return target ? target.toLowerCase().replace(/\.+$/, '') : null;
    } catch (err) {
      abortSignal?.throwIfAborted();
      const code = (err as { code?: string }).code ?? '';
      if (NO_CNAME.has(code)) return null;
      throw new RetryableError(`CNAME lookup of ${name} at ${this.servers.join(', ')} failed (${code || String(err)}); check that the DNS server answers, it will be retried`, { cause: err });
    } finally {
      abortSignal?.removeEventListener('abort', onAbort);
    }
  }
}
