/** Turns a failed look at an endpoint (resolution or handshake) into a finding a human can act on. */
import { finding, type Finding, type FindingCode } from './finding';

const ADVICE: Record<string, { code: FindingCode; advice: string }> = {
  'connection-refused': { code: 'connection-refused', advice: 'check that the service is running and listening on this port' },
  'endpoint-unreachable': { code: 'endpoint-unreachable', advice: 'check routing and firewalls between certops and the endpoint' },
  'handshake-failed': { code: 'handshake-failed', advice: 'check that the port speaks TLS and accepts modern protocol versions' },
  'handshake-timeout': { code: 'handshake-timeout', advice: 'the peer accepted the connection but never completed a TLS handshake; check the service' },
  'no-certificate': { code: 'no-certificate', advice: 'the peer completed a handshake without a certificate; check its TLS configuration' },
};

export function probeFailureFinding(host: string, port: number, address: string, error: { code: string; message: string }): Finding {
  const known = ADVICE[error.code] ?? { code: 'handshake-failed' as FindingCode, advice: 'check the service' };
  return finding(known.code, 'critical', `${host}:${port} at ${address}: ${known.code.replace(/-/g, ' ')}; ${known.advice}.`, {
    address,
    errorCode: error.code,
    error: error.message,
  });
}

export function resolutionFailureFinding(host: string, error: { code: string; message: string }): Finding {
  return finding('name-resolution-failed', 'critical', `${host} does not resolve (${error.code}); check the DNS record or the endpoint's host name.`, {
    host,
    errorCode: error.code,
    error: error.message,
  });
}
