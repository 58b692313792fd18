/** Turns a failed look at an endpoint (resolution or handshake) into a finding a human can act on. */
import { isIPv6 } from 'node:net';
import { finding, type Finding, type FindingCode } from './finding';

const ADVICE: Record<string, { code: FindingCode; advice: string }> = {
  'connection-refused': { code: 'connection-refused', advice: 'check that the service is running and listening on this port' },
  'endpoint-unreachable': { code: 'endpoint-unreachable', advice: 'check routing and firewalls between certops and the endpoint' },
  'handshake-failed': { code: 'handshake-failed', advice: 'check that the port speaks TLS and accepts modern protocol versions' },
  'handshake-timeout': { code: 'handshake-timeout', advice: 'the peer accepted the connection but never completed a TLS handshake; check the service' },
  'no-certificate': { code: 'no-certificate', advice: 'the peer completed a handshake without a certificate; check its TLS configuration' },
};

/** The probe error code (ports/prober.ts) for "certops' own host has no route to this address". */
const NO_ROUTE = 'no-route';

/** What discovery saw at one address of the endpoint (event-data.ts AddressObservation has this shape). */
export interface AddressOutcome {
  address: string;
  outcome: 'ok' | 'error';
  error: { code: string; message: string } | null;
}

/**
 * The finding for one address that gave no certificate. `addresses` is what discovery saw at every
 * address of the endpoint (this one included); without it the address is judged as if it were the
 * endpoint's only one.
 *
 * An address certops' host has no route to (no-route: typically an AAAA address swept from a host
 * without IPv6) tells nothing about the endpoint, only about certops' network:
 * - when certops could route to another address of the endpoint, that address was checked (and
 *   any outage there has its own finding), so this one is an informational note;
 * - when it could route to none, certops cannot check the endpoint at all: a critical
 *   endpoint-unreachable that says certops has no route, not that the endpoint is down.
 */
export function probeFailureFinding(
  host: string,
  port: number,
  address: string,
  error: { code: string; message: string },
  addresses: readonly AddressOutcome[] = [],
): Finding {
  if (error.code === NO_ROUTE) return noRouteFinding(host, port, address, error, addresses);
  const known = ADVICE[error.code] ?? { code: 'handshake-failed' as FindingCode, advice: 'check the service' };
  return finding(known.code, 'critical', `${host}:${port} at ${address}: ${known.code.replace(/-/g, ' ')}; ${known.advice}.`, {
    address,
    errorCode: error.code,
    error: error.message,
  });
}

function noRouteFinding(host: string, port: number, address: string, error: { code: string; message: string }, addresses: readonly AddressOutcome[]): Finding {
  const family = isIPv6(address) ? 'IPv6' : 'IPv4';
  const detail = { address, family, errorCode: error.code, error: error.message };
  const routable = addresses.filter((a) => a.address !== address && a.error?.code !== NO_ROUTE).map((a) => a.address);
  if (routable.length > 0) {
    return finding(
      'address-unroutable',
      'info',
      `${host}:${port} at ${address}: not checked, certops has no ${family} route to it (its other addresses ${routable.join(', ')} were checked); ` +
        `nothing to do unless clients reach it only over ${family}, then give certops' host ${family} connectivity.`,
      detail,
    );
  }
  return finding(
    'endpoint-unreachable',
    'critical',
    `${host}:${port} at ${address}: certops has no ${family} route to it nor to any other address of ${host}, so it cannot check this endpoint; ` +
      `give certops' host ${family} connectivity, or check the name's ${family === 'IPv6' ? 'AAAA' : 'A'} records.`,
    detail,
  );
}

export function resolutionFailureFinding(host: string, error: { code: string; message: string }): Finding {
  return finding('name-resolution-failed', 'critical', `${host} does not resolve (${error.code}); check the DNS record or the endpoint's host name.`, {
    host,
    errorCode: error.code,
    error: error.message,
  });
}
