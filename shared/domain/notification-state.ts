/**
 * What "a change of a certificate's state" means for notifications: the endpoint's worst expiry
 * status plus the codes of its warning and critical findings. Fingerprints and days-left are not
 * part of it (a renewal that keeps an endpoint healthy is not news; a count-down is not a change),
 * nor are info findings (e.g. a certificate shared by endpoints that certops rotates together).
 */
import { createHash } from 'node:crypto';
import type { Finding } from './finding';
import type { ExpiryStatus } from './renewal';

export interface EndpointState {
  status: ExpiryStatus | null;
  findingCodes: string[];
}

export function endpointState(status: ExpiryStatus | null, findings: readonly Finding[]): EndpointState {
  const codes = new Set(findings.filter((f) => f.severity !== 'info').map((f) => f.code));
  return { status, findingCodes: [...codes].sort() };
}

export function stateHash(state: EndpointState): string {
  return createHash('sha256').update(`${state.status ?? 'unobserved'}|${state.findingCodes.join(',')}`).digest('hex');
}

/** Nothing to tell anybody about. */
export function isQuiet(state: EndpointState): boolean {
  return state.status === 'healthy' && state.findingCodes.length === 0;
}

export const HEALTHY_STATE: EndpointState = { status: 'healthy', findingCodes: [] };
