/**
 * Discover: observes a discovery request and looks: resolves the endpoint's name (every A/AAAA
 * address) and does one real TLS handshake with SNI at each address. It decides nothing about
 * the certificates; an unresolvable name or a failed handshake is recorded as an outcome with
 * its error, never thrown. Concurrency is bounded by the subscription (topology.ts) and every
 * probe by its timeouts.
 */
import type { CloudEvent } from '../../domain/events';
import { errorMessage } from '../../domain/errors';
import { NameResolutionError } from '../../ports/resolver';
import type { AddressObservation, DiscoveryRequested, EndpointDiscovered } from '../event-data';
import type { StageContext } from '../stage';
import { EVENT_TYPES } from '../topology';
import { mapBounded } from '../bounded';
import { assertOwnEndpoint } from '../tenant-scope';

/**
 * Addresses of one name probed at once. The stage's concurrency bounds endpoints; this bounds a
 * name with many A/AAAA records (a CDN, a pool), so that 64 such names are not thousands of handshakes.
 */
const ADDRESSES_IN_FLIGHT = 8;

export async function discover(event: CloudEvent, ctx: StageContext): Promise<CloudEvent[]> {
  const { sweepId, endpoint } = event.data as DiscoveryRequested;
  assertOwnEndpoint(ctx, endpoint); // never probe what another tenant (or a forger) names
  const { resolver, prober, discovery, clock } = ctx.deps;
  const observedAt = clock.now().toISOString();

  let addresses: string[] = [];
  let resolutionError: EndpointDiscovered['resolutionError'] = null;
  try {
    addresses = await resolver.resolve(endpoint.host);
  } catch (err) {
    const code = err instanceof NameResolutionError ? err.code : 'ERESOLVE';
    resolutionError = { code, message: errorMessage(err) };
  }

  const observations = await mapBounded(addresses, ADDRESSES_IN_FLIGHT, async (address): Promise<AddressObservation> => {
      const result = await prober.probe({
        address,
        port: endpoint.port,
        servername: endpoint.servername ?? undefined,
        connectTimeoutMs: discovery.connectTimeoutMs,
        handshakeTimeoutMs: discovery.handshakeTimeoutMs,
      });
      return result.ok
        ? {
            address,
            outcome: 'ok',
            chain: result.chain.map((der) => der.toString('base64')),
            protocol: result.protocol,
            error: null,
            durationMs: Math.round(result.durationMs),
          }
        : { address, outcome: 'error', chain: [], protocol: null, error: result.error, durationMs: Math.round(result.durationMs) };
    });

  const failed = observations.filter((o) => o.outcome === 'error').length;
  ctx.log.debug({ endpoint: endpoint.endpointId, addresses: addresses.length, failed, resolutionError }, 'endpoint observed');
  const data: EndpointDiscovered = { sweepId, endpoint, observedAt, resolutionError, addresses: observations };
  return [ctx.emit(EVENT_TYPES.endpointDiscovered, data, { id: `${sweepId}:${endpoint.endpointId}:discovered`, subject: endpoint.endpointId })];
}
