/**
 * DNS-01 readiness of a client domain: can certops prove control of it by DNS-01, and how?
 *
 * Observes: what `_acme-challenge.<domain>` resolves to (a CNAME target or none) and whether the
 * MSP's DNS solver can write TXT records at the name the CA will read (the target when there is a
 * CNAME, the challenge name itself when not).
 * Decides: `direct` (write in the client's zone), `delegated` (write at the CNAME target in the
 * MSP's zone) or `unavailable`, with a finding that says what the client or the MSP must do.
 * Pure: no I/O; the CNAME comes from DnsCnameLookup, writability from the solver's zone list.
 */
import { finding, type Finding, type FindingCode, type Severity } from './finding';

/** The finding codes raised here (listed in FINDING_CODES, finding.ts). */
export const DNS01_FINDING_CODES = ['dns01-unavailable', 'dns01-delegation-broken'] as const satisfies readonly FindingCode[];
export type Dns01FindingCode = (typeof DNS01_FINDING_CODES)[number];
export type Dns01Finding = Finding & { code: Dns01FindingCode };

export interface Dns01Observation {
  /** The certificate's DNS name; a wildcard `*.x` is assessed as `x` (same challenge record). */
  domain: string;
  /** CNAME target of `_acme-challenge.<domain>`, or null when it has none. */
  cnameTarget: string | null;
  /** Whether the MSP's solver can write TXT at the name the CA reads: the target if any, else the challenge name. */
  writable: boolean;
}

export interface Dns01ReadinessOptions {
  /**
   * The MSP's delegation zone. When given, a CNAME must point at `<domain>.<zone>` (the name
   * DelegatingDnsSolver writes); a CNAME elsewhere is reported as broken even if writable.
   */
  delegationZone?: string;
}

export interface Dns01Readiness {
  mode: 'direct' | 'delegated' | 'unavailable';
  finding?: Dns01Finding;
}

/** DNS-01 cannot be solved without a human: renewal of names needing it (wildcards) will fail. */
const UNAVAILABLE_SEVERITY: Severity = 'warning';

/** Decides how DNS-01 works for one client domain; a finding only when it does not. */
export function assessDns01Readiness(observation: Dns01Observation, options: Dns01ReadinessOptions = {}): Dns01Readiness {
  const domain = normalize(observation.domain).replace(/^\*\./, '');
  const challengeName = `_acme-challenge.${domain}`;
  const expectedTarget = options.delegationZone ? `${domain}.${normalize(options.delegationZone)}` : undefined;
  const askForCname = expectedTarget ? `create CNAME ${challengeName} → ${expectedTarget} in the client's zone` : 'delegate it by CNAME to a zone the MSP controls';

  if (observation.cnameTarget === null) {
    if (observation.writable) return { mode: 'direct' };
    return {
      mode: 'unavailable',
      finding: dns01Finding('dns01-unavailable', `DNS-01 is not possible for ${domain}: the MSP cannot write ${challengeName} and it is not delegated; ${askForCname}, or grant the MSP DNS rights in the zone`, {
        domain, challengeName, ...(expectedTarget ? { expectedTarget } : {}),
      }),
    };
  }

  const target = normalize(observation.cnameTarget);
  const pointsElsewhere = expectedTarget !== undefined && target !== expectedTarget;
  if (observation.writable && !pointsElsewhere) return { mode: 'delegated' };
  const why = pointsElsewhere ? `points to ${target}, not to ${expectedTarget} where certops writes` : `points to ${target}, where the MSP cannot write`;
  return {
    mode: 'unavailable',
    finding: dns01Finding('dns01-delegation-broken', `DNS-01 delegation of ${domain} is broken: ${challengeName} ${why}; ${expectedTarget ? `change the CNAME to ${expectedTarget}` : 'point the CNAME into a zone the MSP controls'}`, {
      domain, challengeName, cnameTarget: target, ...(expectedTarget ? { expectedTarget } : {}),
    }),
  };
}

function dns01Finding(code: Dns01FindingCode, message: string, detail: Record<string, unknown>): Dns01Finding {
  return finding(code, UNAVAILABLE_SEVERITY, message, detail) as Dns01Finding;
}

/** DNS names compare case-insensitively (RFC 4343); the trailing root dot is optional. */
function normalize(name: string): string {
  return name.trim().toLowerCase().replace(/\.+$/, '');
}

/**
 * Whether `name` lies in one of `zones` (equal to it or below it): the usual way to know if the
 * MSP's solver can write a record, from the list of zones it manages.
 */
export function isWithinZones(name: string, zones: readonly string[]): boolean {
  const n = normalize(name);
  return zones.map(normalize).some((z) => z !== '' && (n === z || n.endsWith(`.${z}`)));
}
