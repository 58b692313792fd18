/**
 * Renewal time and expiry status of a certificate: pure functions of its validity period, the
 * current time (passed in; see clock.ts) and the tenant's renewal policy.
 *
 * Modelled on cert-manager's `pkg/util/pki/renewaltime.go` (renew at 2/3 of the lifetime unless a
 * policy says otherwise; a `renewBefore` longer than the lifetime is ignored) and on certmagic's
 * layered renewal (a configured ratio, overridden by an emergency point at 1/20 of the lifetime).
 *
 * Decision (documented because the brief left it open): a renewal time NEVER falls after the start
 * of the expiring window. A policy asking for a later renewal (say `renewBeforeDays: 7` on a
 * 90-day certificate, whose expiring window opens 14 days before expiry) is moved earlier to the
 * window's start. Why: the statuses then only ever move forward, healthy → renewal-due → expiring →
 * critical → expired, and `renewAt` is the instant renewal really begins, so a scheduler that
 * sleeps until `renewAt` never wakes up after a certificate has already been reported as expiring.
 * The default policy (1/3 of the lifetime left) and any ratio up to 5/6 are never moved.
 */
import { MS_PER_DAY, MS_PER_HOUR } from './clock';

export type ExpiryStatus =
  | 'healthy'
  | 'renewal-due'
  | 'expiring'
  | 'critical'
  | 'expired'
  | 'not-yet-valid';

export interface RenewalPolicy {
  /** Renew when this many days remain; must be > 0. Takes precedence over `renewAtRatio`. */
  renewBeforeDays?: number;
  /** Renew once this fraction of the lifetime has elapsed; 0 < r < 1. */
  renewAtRatio?: number;
}

export type RenewalTimeReason =
  | 'DefaultTwoThirdsOfLifetime'
  | 'PolicyDaysBeforeExpiry'
  | 'PolicyRatioOfLifetime'
  | 'PolicyExceedsLifetime';

export type ExpiryReason =
  | 'NotYetValid'
  | 'Expired'
  | 'WithinCriticalWindow'
  | 'WithinExpiringWindow'
  | 'PastRenewalTime'
  | 'BeforeRenewalTime';

export interface Validity {
  notBefore: Date;
  notAfter: Date;
}

export interface ExpiryAssessment {
  status: ExpiryStatus;
  reason: ExpiryReason;
  /** Lower-case sentence without a subject, e.g. "expires in 3 days (2026-12-02); renew now". */
  message: string;
  renewAt: Date;
  renewAtReason: RenewalTimeReason;
  /** notAfter − now; negative once expired. */
  msLeft: number;
  /** floor(msLeft / 1 day); negative once expired (−1 during the first day after expiry). */
  daysLeft: number;
  /** The certificate is `expiring` while less than this remains. */
  expiringWithinMs: number;
  /** The certificate is `critical` while less than this remains. */
  criticalWithinMs: number;
}

/** cert-manager's default: renew when 1/3 of the lifetime remains (renewaltime.go). */
export const DEFAULT_RENEW_AT_RATIO = 2 / 3;

/**
 * Two weeks: if automatic renewal keeps failing, a human still has a working fortnight to step in
 * before the certificate expires.
 */
export const EXPIRING_WINDOW_MAX_MS = 14 * MS_PER_DAY;
/**
 * Half of the default renewal window (1/3 of the lifetime), so that a short-lived certificate on
 * the default policy spends half its renewal window quietly in `renewal-due` before anyone is
 * alarmed: a 24-hour certificate is `expiring` in its last 4 hours, not all day.
 */
export const EXPIRING_WINDOW_LIFETIME_FRACTION = 1 / 6;
/** Three days: a long weekend, the longest an MSP is likely not to look. */
export const CRITICAL_WINDOW_MAX_MS = 3 * MS_PER_DAY;
/**
 * certmagic's emergency point (maintain.go: renew regardless of configuration when 1/20 of the
 * lifetime remains): a 24-hour certificate is `critical` in its last 72 minutes.
 */
export const CRITICAL_WINDOW_LIFETIME_FRACTION = 1 / 20;

/**
 * When the certificate should be renewed, and which rule chose that time.
 * - `renewBeforeDays` shorter than the lifetime: notAfter − days (PolicyDaysBeforeExpiry).
 * - `renewBeforeDays` as long as the lifetime or longer: the ratio if one is set, else 2/3 of the
 *   lifetime (PolicyExceedsLifetime), as cert-manager ignores such a `renewBefore`.
 * - `renewAtRatio` alone: notBefore + ratio × lifetime (PolicyRatioOfLifetime).
 * - no policy: notBefore + 2/3 × lifetime (DefaultTwoThirdsOfLifetime).
 * The result is then moved no later than the start of the expiring window (see the file comment).
 * @throws RangeError when a date is invalid or the policy is out of range (days ≤ 0, ratio ∉ (0,1)).
 */
export function renewalTime(
  validity: Validity,
  policy: RenewalPolicy = {},
): { at: Date; reason: RenewalTimeReason } {
  const { notBeforeMs, notAfterMs, lifetimeMs } = checkedValidity(validity);
  checkPolicy(policy);
  const byRatio = (ratio: number) => notBeforeMs + Math.floor(lifetimeMs * ratio);

  let atMs: number;
  let reason: RenewalTimeReason;
  const { renewBeforeDays, renewAtRatio } = policy;
  if (renewBeforeDays !== undefined && renewBeforeDays * MS_PER_DAY < lifetimeMs) {
    atMs = notAfterMs - Math.floor(renewBeforeDays * MS_PER_DAY);
    reason = 'PolicyDaysBeforeExpiry';
  } else if (renewAtRatio !== undefined) {
    atMs = byRatio(renewAtRatio);
    reason = 'PolicyRatioOfLifetime';
  } else {
    atMs = byRatio(DEFAULT_RENEW_AT_RATIO);
    reason = renewBeforeDays !== undefined ? 'PolicyExceedsLifetime' : 'DefaultTwoThirdsOfLifetime';
  }
  const expiringStartMs = notAfterMs - expiringWindowMs(lifetimeMs);
  return { at: new Date(Math.min(atMs, expiringStartMs)), reason };
}

/**
 * The expiry status of a certificate at `now`, first match wins: not-yet-valid, expired, critical,
 * expiring, renewal-due, healthy. RFC 5280 §4.1.2.5: the validity period includes both notBefore
 * and notAfter, so a certificate is expired only strictly after notAfter. Windows are half-open:
 * with exactly the expiring window's length left the certificate is not yet `expiring`.
 */
export function assessExpiry(
  validity: Validity,
  now: Date,
  policy?: RenewalPolicy,
): ExpiryAssessment {
  const { notBeforeMs, notAfterMs, lifetimeMs } = checkedValidity(validity);
  const nowMs = now.getTime();
  if (Number.isNaN(nowMs)) throw new RangeError('now is not a valid date');

  const renewal = renewalTime(validity, policy);
  const msLeft = notAfterMs - nowMs;
  const expiringWithinMs = expiringWindowMs(lifetimeMs);
  const criticalWithinMs = criticalWindowMs(lifetimeMs);
  // First match wins, in the precedence documented above.
  function classify(): { status: ExpiryStatus; reason: ExpiryReason; message: string } {
    const expiry = formatInstant(validity.notAfter, lifetimeMs);
    const left = formatDuration(msLeft);
    const renewAt = formatInstant(renewal.at, lifetimeMs);
    if (nowMs < notBeforeMs) {
      const from = formatInstant(validity.notBefore, lifetimeMs);
      return {
        status: 'not-yet-valid',
        reason: 'NotYetValid',
        message: `is not valid until ${from} (in ${formatDuration(notBeforeMs - nowMs)}); check the issuer's and the server's clocks before deploying it`,
      };
    }
    if (nowMs > notAfterMs) {
      return {
        status: 'expired',
        reason: 'Expired',
        message: `expired ${formatDuration(-msLeft)} ago (${expiry}); renew and deploy now`,
      };
    }
    if (msLeft < criticalWithinMs) {
      return {
        status: 'critical',
        reason: 'WithinCriticalWindow',
        message: `expires in ${left} (${expiry}); renew now`,
      };
    }
    if (msLeft < expiringWithinMs) {
      return {
        status: 'expiring',
        reason: 'WithinExpiringWindow',
        message: `expires in ${left} (${expiry}), inside its ${formatDuration(expiringWithinMs)} expiring window; renew now`,
      };
    }
    if (nowMs >= renewal.at.getTime()) {
      return {
        status: 'renewal-due',
        reason: 'PastRenewalTime',
        message: `expires in ${left} (${expiry}); renewal has been due since ${renewAt} (${describe(renewal.reason)}); renew at the next opportunity`,
      };
    }
    return {
      status: 'healthy',
      reason: 'BeforeRenewalTime',
      message: `expires in ${left} (${expiry}); renewal is scheduled for ${renewAt} (${describe(renewal.reason)})`,
    };
  }

  const { status, reason, message } = classify();
  return {
    status,
    reason,
    message,
    renewAt: renewal.at,
    renewAtReason: renewal.reason,
    msLeft,
    daysLeft: Math.floor(msLeft / MS_PER_DAY),
    expiringWithinMs,
    criticalWithinMs,
  };
}

/** True for the statuses on which certops should renew: renewal-due, expiring, critical, expired. */
export function needsRenewal(status: ExpiryStatus): boolean {
  return (
    status === 'renewal-due' || status === 'expiring' || status === 'critical' || status === 'expired'
  );
}

function expiringWindowMs(lifetimeMs: number): number {
  return Math.min(EXPIRING_WINDOW_MAX_MS, Math.floor(lifetimeMs * EXPIRING_WINDOW_LIFETIME_FRACTION));
}

function criticalWindowMs(lifetimeMs: number): number {
  return Math.min(CRITICAL_WINDOW_MAX_MS, Math.floor(lifetimeMs * CRITICAL_WINDOW_LIFETIME_FRACTION));
}

function checkedValidity(validity: Validity) {
  const notBeforeMs = validity.notBefore.getTime();
  const notAfterMs = validity.notAfter.getTime();
  if (Number.isNaN(notBeforeMs) || Number.isNaN(notAfterMs)) {
    throw new RangeError('the certificate validity has an invalid notBefore or notAfter date');
  }
  // A certificate whose notAfter precedes its notBefore has no lifetime: every instant is either
  // before it is valid or after it expired, so a zero lifetime yields the right statuses.
  return { notBeforeMs, notAfterMs, lifetimeMs: Math.max(0, notAfterMs - notBeforeMs) };
}

function checkPolicy(policy: RenewalPolicy): void {
  const { renewBeforeDays: days, renewAtRatio: ratio } = policy;
  if (days !== undefined && !(Number.isFinite(days) && days > 0)) {
    throw new RangeError(`renewBeforeDays must be a number of days > 0, got ${days}`);
  }
  if (ratio !== undefined && !(Number.isFinite(ratio) && ratio > 0 && ratio < 1)) {
    throw new RangeError(`renewAtRatio must be between 0 and 1 (exclusive), got ${ratio}`);
  }
}

function describe(reason: RenewalTimeReason): string {
  switch (reason) {
    case 'DefaultTwoThirdsOfLifetime':
      return 'at 2/3 of its lifetime by default';
    case 'PolicyDaysBeforeExpiry':
      return "by the tenant's days-before-expiry policy";
    case 'PolicyRatioOfLifetime':
      return "by the tenant's lifetime-ratio policy";
    case 'PolicyExceedsLifetime':
      return "at 2/3 of its lifetime, because the tenant's days-before-expiry policy exceeds the lifetime";
  }
}

/** Whole units, rounded down: "3 days", "5 hours", "1 minute". Days from 2 days up. */
function formatDuration(ms: number): string {
  const [n, unit] =
    ms >= 2 * MS_PER_DAY
      ? [Math.floor(ms / MS_PER_DAY), 'day']
      : ms >= 2 * MS_PER_HOUR
        ? [Math.floor(ms / MS_PER_HOUR), 'hour']
        : [Math.floor(ms / 60_000), 'minute'];
  return `${n} ${unit}${n === 1 ? '' : 's'}`;
}

/** A date for certificates living a week or more, a UTC minute for shorter-lived ones. */
function formatInstant(at: Date, lifetimeMs: number): string {
  const iso = at.toISOString();
  return lifetimeMs >= 7 * MS_PER_DAY ? iso.slice(0, 10) : `${iso.slice(0, 16)}Z`;
}
