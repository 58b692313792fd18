/**
 * DelegatingDnsSolver: DNS-01 for client zones the MSP cannot write, through CNAME delegation.
 *
 * An MSP often has no DNS rights in a client's zone. The client then creates, once,
 *
 *     _acme-challenge.<name>.   CNAME   <name>.<delegationZone>.
 *
 * where `<delegationZone>` is a zone the MSP controls (e.g. `acme.msp.example`). The CA follows
 * the CNAME when it looks up the TXT record (RFC 8555 §8.4 says only that the CA queries
 * `_acme-challenge.<name>`; CNAME resolution is ordinary DNS, RFC 1034 §3.6.2, and Let's Encrypt
 * documents following it), so certops writes the TXT record at `<name>.<delegationZone>`, where
 * its solver has rights. This is the acme-dns naming convention, minus acme-dns's random labels:
 * a readable name lets a human check the delegation with one `dig`.
 *
 * Observes: the record names AcmeIssuer asks to present and clean up.
 * Decides: where the TXT record is written (the delegation target, or the name itself for names
 * that are not delegated), then hands the write to the wrapped solver of the MSP's zone.
 */
import { PermanentError } from '../../domain/errors';
import type { DnsChallengeRecord, DnsSolver } from '../../ports/dns-solver';

const CHALLENGE_LABEL = '_acme-challenge.';

/**
 * The delegation target of `_acme-challenge.<name>`: `<name>.<zone>`, lower-cased, without
 * trailing dots. A wildcard `*.x` maps like `x`, because its challenge record is
 * `_acme-challenge.x` too (RFC 8555 §8.4 with §7.1.3: the wildcard label is dropped).
 * Pure; throws PermanentError for an empty name or zone.
 */
export function delegatedRecordName(name: string, zone: string): string {
  const base = normalize(name).replace(/^\*\./, '');
  const delegationZone = normalize(zone);
  if (base === '' || base === '*') throw new PermanentError(`cannot delegate the DNS-01 record of '${name}': not a domain name; fix the managed certificate's names`);
  if (delegationZone === '') throw new PermanentError('the DNS-01 delegation zone is empty; configure the zone the MSP controls (e.g. acme.msp.example)');
  return `${base}.${delegationZone}`;
}

export interface DelegatingDnsSolverOptions {
  /**
   * Which names (the certificate's DNS name, wildcard label dropped) are delegated; the others are
   * written at `_acme-challenge.<name>` itself through the same solver. Default: all names.
   */
  isDelegated?: (name: string) => boolean;
}

export class DelegatingDnsSolver implements DnsSolver {
  /**
   * @param inner the solver that writes TXT records in the MSP's delegation zone
   * @param delegationZone the zone the MSP controls, e.g. `acme.msp.example`
   */
  constructor(
    private readonly inner: DnsSolver,
    private readonly delegationZone: string,
    private readonly options: DelegatingDnsSolverOptions = {},
  ) {
    delegatedRecordName('check.invalid', delegationZone);
  }

  /** Presents the TXT value at the delegation target (see delegatedRecordName). */
  async present(record: DnsChallengeRecord, options: { abortSignal?: AbortSignal } = {}): Promise<void> {
    return this.inner.present(this.target(record), options);
  }

  /** Removes the TXT value from the delegation target; idempotent as the wrapped solver is. */
  async cleanup(record: DnsChallengeRecord, options: { abortSignal?: AbortSignal } = {}): Promise<void> {
    return this.inner.cleanup(this.target(record), options);
  }

  private target(record: DnsChallengeRecord): DnsChallengeRecord {
    const fqdn = normalize(record.fqdn);
    if (!fqdn.startsWith(CHALLENGE_LABEL)) {
      throw new PermanentError(`DNS-01 record '${record.fqdn}' does not start with ${CHALLENGE_LABEL} (RFC 8555 §8.4), so it has no delegation target; this is a bug in the caller`);
    }
    const name = fqdn.slice(CHALLENGE_LABEL.length);
    if (this.options.isDelegated && !this.options.isDelegated(name)) return record;
    return { fqdn: delegatedRecordName(name, this.delegationZone), value: record.value };
  }
}

/** DNS names compare case-insensitively (RFC 4343); the trailing root dot is optional here. */
function normalize(name: string): string {
  return name.trim().toLowerCase().replace(/\.+$/, '');
}
