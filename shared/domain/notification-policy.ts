/**
 * Noise control for a tenant's notifications (issue 6): for one notification the notify stage
 * has built, decide whether it is sent now, held for the tenant's daily digest, or suppressed,
 * and whom it goes to. Pure: the caller supplies the time, the policy and the subject's snooze,
 * and logs the returned reason.
 *
 * The rules, in order (the first that applies decides):
 *  1. `digest`             a digest is sent (it is never held for the next digest).
 *  2. `excluded`           the subject matches `policy.exclude` → suppress. An exclusion is the
 *                          tenant saying "never tell us about this one", so it wins over
 *                          everything, critical included; the state is still recorded and audited.
 *  3. `snoozed`            the subject is snoozed until a later time → suppress. Except
 *                          `rotation-failed` and `approval-requested`: a human must act on those,
 *                          so a snooze never hides them (they continue with rule 4).
 *  4. `critical`           critical → send: quiet hours and thresholds never delay a critical one.
 *  5. `approval-requested` → send: someone is waiting for the answer.
 *  6. `below-min-severity` severity below `policy.minSeverity` → digest.
 *  7. `quiet-hours`        now is inside the quiet hours, local wall time → digest.
 *  8. `within-policy`      → send.
 */
import type { NotifyPolicy } from '../config/model';
import type { Notification } from '../ports/notifier';
import { PermanentError } from './errors';

export type SendReason = 'digest' | 'critical' | 'approval-requested' | 'within-policy';
export type DigestReason = 'below-min-severity' | 'quiet-hours';
export type SuppressReason = 'excluded' | 'snoozed';

export type DeliveryDecision =
  | { kind: 'send'; reason: SendReason }
  | { kind: 'digest'; reason: DigestReason }
  | { kind: 'suppress'; reason: SuppressReason };

export interface DeliveryInput {
  notification: Notification;
  /** The tenant's `policy.notify`; undefined: everything is sent. */
  policy: NotifyPolicy | undefined;
  now: Date;
  /** `until` of the snooze on the notification's subject (ISO 8601), or null. */
  snoozedUntil: string | null;
}

/** Kinds a snooze never hides: a human must act on them. */
export const SNOOZE_PROOF_KINDS: ReadonlySet<Notification['kind']> = new Set(['rotation-failed', 'approval-requested']);

/** info < warning < critical. */
export function severityRank(severity: Notification['severity']): number {
  return severity === 'critical' ? 2 : severity === 'warning' ? 1 : 0;
}

/**
 * Throws PermanentError when `policy` is malformed (an unknown time zone, a quiet hour that is
 * not HH:MM, a wildcard exclusion this module does not understand): the config loader validates
 * up front, so at run time this means the policy bypassed it.
 */
export function decideDelivery(input: DeliveryInput): DeliveryDecision {
  const { notification: n, policy, now } = input;
  if (n.kind === 'digest') return { kind: 'send', reason: 'digest' };
  if (matchingExclusion(n.subject, policy?.exclude) !== null) return { kind: 'suppress', reason: 'excluded' };
  if (isSnoozed(input.snoozedUntil, now) && !SNOOZE_PROOF_KINDS.has(n.kind)) return { kind: 'suppress', reason: 'snoozed' };
  if (n.severity === 'critical') return { kind: 'send', reason: 'critical' };
  if (n.kind === 'approval-requested') return { kind: 'send', reason: 'approval-requested' };
  if (policy?.minSeverity && severityRank(n.severity) < severityRank(policy.minSeverity)) return { kind: 'digest', reason: 'below-min-severity' };
  if (policy?.quietHours && inQuietHours(policy.quietHours, now)) return { kind: 'digest', reason: 'quiet-hours' };
  return { kind: 'send', reason: 'within-policy' };
}

/**
 * An unreadable `until` is no snooze: a corrupted record must not silence notifications (and a
 * pure function cannot repair it; the snooze API validates what it stores).
 */
function isSnoozed(until: string | null, now: Date): boolean {
  if (until === null) return false;
  const end = Date.parse(until);
  return Number.isFinite(end) && end > now.getTime();
}

// ---------------------------------------------------------------------------------------------
// Routing

/** Who gets a kind when no route names it: failures that need someone senior, the rest the assignee. */
export const DEFAULT_ESCALATED_KINDS: ReadonlySet<Notification['kind']> = new Set(['rotation-failed', 'gate-changed']);

/**
 * Whom a notification of `kind` goes to: the first of `policy.routes` that lists the kind wins;
 * otherwise rotation-failed and gate-changed go to the escalation contact and the rest to the
 * assignee. A tenant without an escalation contact gets everything at the assignee (as the
 * notify stage does today). `assignee` is taken so call sites read as the choice they make.
 */
export function routeTo(
  kind: Notification['kind'],
  policy: NotifyPolicy | undefined,
  assignee: Notification['to'],
  escalation: Notification['to'] | undefined,
): 'assignee' | 'escalation' {
  void assignee;
  if (!escalation) return 'assignee';
  const route = policy?.routes?.find((r) => r.kinds.includes(kind));
  if (route) return route.to;
  return DEFAULT_ESCALATED_KINDS.has(kind) ? 'escalation' : 'assignee';
}

// ---------------------------------------------------------------------------------------------
// Exclusions

/**
 * The first `exclude` entry that matches the subject, or null. An entry is one of:
 * - a certificate id: equal to `subject.certificateId` (case-sensitive, as configured);
 * - an endpoint id `host:port` or `host:port/sni`: equal to `subject.endpoint`, ignoring case
 *   (DNS names are case-insensitive, RFC 4343). `host:port` names the socket, so it also covers
 *   every SNI name served there (`host:port/<sni>`);
 * - a wildcard endpoint pattern: `*.` as the whole first label of the host matches ONE OR MORE
 *   labels (`*.lab.contoso.test:443` covers `a.lab.contoso.test:443` and `x.y.lab.contoso.test:443`,
 *   not the apex `lab.contoso.test:443`), and `*` as the whole port matches any port. This is
 *   deliberately wider than a certificate wildcard (RFC 6125 §6.4.3, one label): an exclusion
 *   silences a zone, such as a lab. A `*` anywhere else (`web*`, `*lab.test:443`, `host:44*`) is
 *   refused: half-label wildcards match more than their author expects.
 */
export function matchingExclusion(subject: Notification['subject'], exclude: readonly string[] | undefined): string | null {
  for (const entry of exclude ?? []) {
    if (subject.certificateId !== undefined && entry === subject.certificateId) return entry;
    const pattern = endpointPattern(entry);
    if (pattern && subject.endpoint !== undefined && pattern.test(subject.endpoint.toLowerCase())) return entry;
  }
  return null;
}

/** Throws PermanentError (saying what is allowed) when `entry` is a wildcard this module refuses. */
export function validateExclusion(entry: string): void {
  endpointPattern(entry);
}

const PORT = /^([1-9]\d{0,4}|\*)$/;
const patterns = new Map<string, RegExp | null>();

/** The entry as a matcher of endpoint ids; null when it cannot be one (a certificate id). */
function endpointPattern(entry: string): RegExp | null {
  const cached = patterns.get(entry);
  if (cached !== undefined) return cached;
  const compiled = compileEndpointPattern(entry);
  patterns.set(entry, compiled);
  return compiled;
}

function compileEndpointPattern(entry: string): RegExp | null {
  const wildcard = entry.includes('*');
  const refuse = (why: string): never => {
    throw new PermanentError(
      `exclusion "${entry}" is not understood: ${why}. Use a certificate id, an endpoint id (host:port or host:port/sni), ` +
        `or a wildcard "*.zone:port" / "*.zone:*" where "*" is a whole first label or the whole port.`,
    );
  };
  const slash = entry.indexOf('/');
  const socket = (slash < 0 ? entry : entry.slice(0, slash)).toLowerCase();
  const sni = slash < 0 ? null : entry.slice(slash + 1).toLowerCase();
  const colon = socket.lastIndexOf(':');
  if (colon <= 0) return wildcard ? refuse('an endpoint pattern needs a port') : null;
  const host = socket.slice(0, colon);
  const port = socket.slice(colon + 1);
  if (!PORT.test(port)) return wildcard ? refuse('the port must be a number or "*"') : null;
  if (sni !== null && (sni === '' || sni.includes('*'))) return wildcard ? refuse('the SNI name after "/" cannot be a wildcard') : null;
  const anyLabels = host.startsWith('*.');
  const suffix = anyLabels ? host.slice(2) : host;
  if (suffix === '' || suffix.includes('*')) return refuse('"*" must be the whole first label of the host');
  const hostRe = (anyLabels ? '(?:[^.:/]+\\.)+' : '') + escapeRegExp(suffix);
  const portRe = port === '*' ? '\\d+' : port;
  const sniRe = sni === null ? '(?:/.*)?' : '/' + escapeRegExp(sni);
  return new RegExp(`^${hostRe}:${portRe}${sniRe}$`);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

// ---------------------------------------------------------------------------------------------
// Quiet hours

const HH_MM = /^([01]\d|2[0-3]):([0-5]\d)$/;
const formatters = new Map<string, Intl.DateTimeFormat>();

/**
 * Throws PermanentError unless `timeZone` is an IANA time zone this runtime knows (its ICU data):
 * `Europe/Berlin`, `UTC`, `Etc/GMT+5` (names are case-insensitive). The config loader calls it.
 */
export function validateTimeZone(timeZone: string): void {
  formatterFor(timeZone);
}

/** Minutes since local midnight (0–1439) of the wall clock in `timeZone` at `at`. */
export function localMinutes(at: Date, timeZone: string): number {
  let hour = 0;
  let minute = 0;
  for (const part of formatterFor(timeZone).formatToParts(at)) {
    if (part.type === 'hour') hour = Number(part.value);
    if (part.type === 'minute') minute = Number(part.value);
  }
  return hour * 60 + minute;
}

/**
 * Whether `at` falls in the window [start, end) of local wall time in `timeZone` (default UTC).
 * A window whose end is before its start crosses midnight (22:00–07:00); start == end means no
 * quiet hours. Wall time, not elapsed time: around a DST change the window stays 22:00–07:00 on
 * the clock, so it is an hour shorter or longer that night, and a window inside the skipped hour
 * (02:00–03:00 on the last Sunday of March in Europe/Berlin) is empty that day.
 */
export function inQuietHours(quiet: NonNullable<NotifyPolicy['quietHours']>, at: Date): boolean {
  const start = minutesOfDay(quiet.start, 'start');
  const end = minutesOfDay(quiet.end, 'end');
  const timeZone = quiet.timeZone ?? 'UTC';
  validateTimeZone(timeZone); // even when start == end: a typo should not wait for the day it matters
  if (start === end) return false;
  const local = localMinutes(at, timeZone);
  return start < end ? local >= start && local < end : local >= start || local < end;
}

function minutesOfDay(hhmm: string, field: 'start' | 'end'): number {
  const m = HH_MM.exec(hhmm);
  if (!m) throw new PermanentError(`quiet hours ${field} "${hhmm}" is not a time of day: write HH:MM, 24-hour (e.g. 22:00)`);
  return Number(m[1]) * 60 + Number(m[2]);
}

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  const cached = formatters.get(timeZone);
  if (cached) return cached;
  let formatter: Intl.DateTimeFormat;
  try {
    // hourCycle h23: `hour12: false` renders midnight as "24" in some ICU versions.
    formatter = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', hour: '2-digit', minute: '2-digit' });
  } catch (err) {
    throw new PermanentError(
      `unknown time zone "${timeZone}" for quiet hours: use an IANA name such as "Europe/Berlin" or "UTC"`,
      { cause: err },
    );
  }
  formatters.set(timeZone, formatter);
  return formatter;
}
