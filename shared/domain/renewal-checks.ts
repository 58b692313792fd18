/**
 * Should certops replace a managed certificate now? A chain of named checks (as cert-manager's
 * trigger controller): the first that fires gives the documented reason; none firing means
 * "no renewal", with the reason it was not needed.
 */
import type { Finding, FindingCode } from './finding';
import type { ExpiryStatus } from './renewal';

export interface RenewalCheckInput {
  status: ExpiryStatus | null;
  statusReason: string | null;
  findings: readonly Finding[];
  /** The CA's own renewal window (ACME ARI), when it offers one: it replaces the 2/3 rule. */
  ari?: { due: boolean; reason: string } | null;
}

export interface RenewalVerdict {
  renew: boolean;
  /** e.g. `PastRenewalTime`, `Expired`, `Finding:hostname-mismatch`, `UpToDate`, `NothingServed`. */
  reason: string;
}

/** Findings that a fresh certificate from certops' issuer fixes. */
export const FINDINGS_FIXED_BY_REISSUE: ReadonlySet<FindingCode> = new Set<FindingCode>([
  'hostname-mismatch',
  'self-signed',
  'chain-incomplete',
  'chain-untrusted',
  'weak-key',
  'sha1-signature',
  'expired-intermediate',
]);

const EXPIRY_STATUSES_NEEDING_RENEWAL: ReadonlySet<ExpiryStatus> = new Set<ExpiryStatus>([
  'renewal-due',
  'expiring',
  'critical',
  'expired',
]);
/** So close to expiry that no CA's suggestion outranks it (certmagic's emergency renewal). */
const EMERGENCY_STATUSES: ReadonlySet<ExpiryStatus> = new Set<ExpiryStatus>(['expiring', 'critical', 'expired']);

type Check = (input: RenewalCheckInput) => RenewalVerdict | null;

const checks: Check[] = [
  // Nothing was served (unreachable, refused): a new certificate would not help; it is a finding.
  (i) => (i.status === null ? { renew: false, reason: 'NothingServed' } : null),
  (i) => (EMERGENCY_STATUSES.has(i.status!) ? { renew: true, reason: i.statusReason ?? i.status! } : null),
  // RFC 9773: the CA's window decides the timing, in place of the lifetime ratio.
  (i) => (i.ari?.due ? { renew: true, reason: i.ari.reason } : null),
  (i) => (!i.ari && EXPIRY_STATUSES_NEEDING_RENEWAL.has(i.status!) ? { renew: true, reason: i.statusReason ?? i.status! } : null),
  (i) => {
    const fixable = i.findings.find((f) => FINDINGS_FIXED_BY_REISSUE.has(f.code));
    return fixable ? { renew: true, reason: `Finding:${fixable.code}` } : null;
  },
];

export function renewalVerdict(input: RenewalCheckInput): RenewalVerdict {
  for (const check of checks) {
    const verdict = check(input);
    if (verdict) return verdict;
  }
  return { renew: false, reason: 'UpToDate' };
}

const STATUS_RANK: Record<ExpiryStatus, number> = {
  healthy: 0,
  'renewal-due': 1,
  'not-yet-valid': 2,
  expiring: 3,
  critical: 4,
  expired: 5,
};

/** The worst of several statuses (null entries ignored; null when there is none). */
export function worstStatus(statuses: ReadonlyArray<ExpiryStatus | null>): ExpiryStatus | null {
  let worst: ExpiryStatus | null = null;
  for (const s of statuses) {
    if (s !== null && (worst === null || STATUS_RANK[s] > STATUS_RANK[worst])) worst = s;
  }
  return worst;
}
