/**
 * Verification by handshake: does every address of every endpoint serve the expected
 * certificate? Polled with capped exponential backoff until all do or the deadline passes
 * (a reload is not instant: nginx's old workers keep serving for ~100–130 ms after a reload).
 * With `confirmations` > 1 the full check must pass that many times in a row, and with `settleMs`
 * the passing run must span that long: one handshake that reached a new nginx worker does not
 * prove the old workers have stopped accepting (measured under load: two passes 50 ms apart still
 * let an old worker answer 8 ms after; old workers accept for up to ~130 ms after a reload).
 *
 * An address certops' own host has no route to (probe error `no-route`: an AAAA address on a host
 * without IPv6) proves nothing either way and is skipped, as discovery treats it, when another
 * address of the same endpoint answered; an endpoint none of whose addresses certops can reach is
 * pending (nothing proves it serves the new certificate).
 */
import { createHash } from 'node:crypto';
import type { EndpointRef } from './event-data';
import type { PipelineDeps } from './stage';

export interface ServedCheck {
  ok: boolean;
  verified: Array<{ endpointId: string; address: string }>;
  /** Addresses certops has no route to, skipped beside an address of the same endpoint that answered. */
  unroutable?: Array<{ endpointId: string; address: string }>;
  /** Addresses that did not serve the expected certificate, with what they served instead. */
  pending: Array<{ endpointId: string; address: string; served: string | null; error: string | null }>;
}

export async function checkServed(deps: PipelineDeps, endpoints: EndpointRef[], fingerprint: string): Promise<ServedCheck> {
  const result: ServedCheck = { ok: true, verified: [], pending: [] };
  for (const endpoint of endpoints) {
    let addresses: string[];
    try {
      addresses = await deps.resolver.resolve(endpoint.host);
    } catch (err) {
      result.ok = false;
      result.pending.push({ endpointId: endpoint.endpointId, address: '', served: null, error: String(err) });
      continue;
    }
    const probes = await Promise.all(
      addresses.map((address) =>
        deps.prober.probe({
          address,
          port: endpoint.port,
          servername: endpoint.servername ?? undefined,
          connectTimeoutMs: deps.discovery.connectTimeoutMs,
          handshakeTimeoutMs: deps.discovery.handshakeTimeoutMs,
        }).then((r) => ({ address, r })),
      ),
    );
    const routable = probes.filter(({ r }) => r.ok || r.error.code !== 'no-route');
    for (const { address, r } of routable.length > 0 ? routable : probes) {
      const served = r.ok ? createHash('sha256').update(r.chain[0]).digest('hex') : null;
      if (served === fingerprint) result.verified.push({ endpointId: endpoint.endpointId, address });
      else {
        result.ok = false;
        result.pending.push({ endpointId: endpoint.endpointId, address, served, error: r.ok ? null : r.error.message });
      }
    }
    if (routable.length > 0 && routable.length < probes.length) {
      result.unroutable = [...(result.unroutable ?? []), ...probes.filter((p) => !routable.includes(p)).map(({ address }) => ({ endpointId: endpoint.endpointId, address }))];
    }
  }
  return result;
}

export async function waitUntilServed(
  deps: PipelineDeps,
  endpoints: EndpointRef[],
  fingerprint: string,
  options: { timeoutMs: number; initialDelayMs: number; maxDelayMs: number; confirmations?: number; settleMs?: number },
): Promise<ServedCheck> {
  const deadline = Date.now() + options.timeoutMs;
  const confirmations = Math.max(1, options.confirmations ?? 1);
  const settleMs = options.settleMs ?? 0;
  let delay = options.initialDelayMs;
  let passed = 0;
  let firstPassAt = 0;
  for (;;) {
    const started = Date.now();
    const check = await checkServed(deps, endpoints, fingerprint);
    if (check.ok && passed === 0) firstPassAt = started;
    passed = check.ok ? passed + 1 : 0;
    const settled = passed >= confirmations && Date.now() - firstPassAt >= settleMs;
    if (settled || Date.now() + delay > deadline) return settled ? check : { ...check, ok: false };
    // A confirmation follows at the first delay; a miss backs off.
    const wait = check.ok ? options.initialDelayMs : delay;
    await new Promise((resolve) => setTimeout(resolve, wait));
    if (!check.ok) delay = Math.min(delay * 2, options.maxDelayMs);
  }
}
