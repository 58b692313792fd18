/**
 * Prober: one TLS handshake to one address of one endpoint, returning the chain the peer presented.
 *
 * Contract:
 * - Never throws for network outcomes: DNS, refusal, timeouts, garbage and handshake failures are
 *   returned as `{ ok: false, error }` with a stable code. Throws only on programmer error.
 * - Never resumes a TLS session (a resumed session shows no certificate).
 * - Does not validate the chain: it reports what was presented; analysis judges it.
 * - Finishes within connectTimeoutMs + handshakeTimeoutMs, and honours `abortSignal`.
 */
export type ProbeErrorCode =
  | 'connection-refused'
  /** The address did not answer: the connect timed out, or the network on the way said it cannot be reached. */
  | 'endpoint-unreachable'
  /**
   * certops' own host has no route to the address (its routing table has none, typically for a
   * whole address family: an AAAA address on a host without IPv6). Nothing was sent; this says
   * nothing about the endpoint.
   */
  | 'no-route'
  | 'handshake-failed'
  | 'handshake-timeout'
  | 'no-certificate';

export interface ProbeRequest {
  /** The IP address to connect to. */
  address: string;
  port: number;
  /** SNI server name; omitted for IP-literal endpoints. */
  servername?: string;
  connectTimeoutMs: number;
  handshakeTimeoutMs: number;
  abortSignal?: AbortSignal;
}

export type ProbeResult =
  | {
      ok: true;
      /** DER certificates, leaf first, exactly as presented. */
      chain: Buffer[];
      protocol: string | null;
      durationMs: number;
    }
  | { ok: false; error: { code: ProbeErrorCode; message: string }; durationMs: number };

export interface Prober {
  probe(request: ProbeRequest): Promise<ProbeResult>;
}
