import type { NotifyPolicy } from '../../shared/config/model';
import { PermanentError } from '../../shared/domain/errors';
import {
  decideDelivery,
  inQuietHours,
  localMinutes,
  matchingExclusion,
  routeTo,
  validateExclusion,
  validateTimeZone,
  type DeliveryDecision,
} from '../../shared/domain/notification-policy';
import type { Notification } from '../../shared/ports/notifier';
import { aNotification as aBaseNotification } from '../support/notification-builders';

// Builders: a warning about one endpoint of tenant "acme" (certificate www-acme), overridable field by field.
function aNotification(overrides: Partial<Notification> = {}): Notification {
  return aBaseNotification({ subject: { endpoint: 'www.acme.example:443', certificateId: 'www-acme' }, facts: {}, occurredAt: '2026-06-01T10:00:00.000Z', ...overrides });
}

const NIGHT_UTC = { start: '22:00', end: '07:00' };
const NIGHT_BERLIN = { start: '22:00', end: '07:00', timeZone: 'Europe/Berlin' };
const NOON = new Date('2026-06-01T12:00:00Z');
const MIDNIGHT = new Date('2026-06-01T23:30:00Z');
const LATER = '2026-06-02T00:00:00Z';
const EARLIER = '2026-06-01T00:00:00Z';

describe('decideDelivery', () => {
  it.each<[string, Partial<Notification>, NotifyPolicy | undefined, Date, string | null, DeliveryDecision]>([
    ['the tenant has no notify policy', {}, undefined, MIDNIGHT, null, { kind: 'send', reason: 'within-policy' }],
    ['nothing in the policy applies', {}, { minSeverity: 'warning', quietHours: NIGHT_UTC, exclude: ['other:443'] }, NOON, null, { kind: 'send', reason: 'within-policy' }],
    ['the endpoint is excluded', {}, { exclude: ['www.acme.example:443'] }, NOON, null, { kind: 'suppress', reason: 'excluded' }],
    ['the certificate is excluded', {}, { exclude: ['www-acme'] }, NOON, null, { kind: 'suppress', reason: 'excluded' }],
    ['a failed rotation of an excluded certificate happens', { kind: 'rotation-failed', severity: 'critical' }, { exclude: ['www-acme'] }, NOON, null, { kind: 'suppress', reason: 'excluded' }],
    ['the subject is snoozed until later', {}, undefined, NOON, LATER, { kind: 'suppress', reason: 'snoozed' }],
    ['a critical state change is snoozed', { severity: 'critical' }, undefined, NOON, LATER, { kind: 'suppress', reason: 'snoozed' }],
    ['the snooze ended earlier', {}, undefined, NOON, EARLIER, { kind: 'send', reason: 'within-policy' }],
    ['the snooze ends exactly now', {}, undefined, NOON, NOON.toISOString(), { kind: 'send', reason: 'within-policy' }],
    ['the snooze is unreadable', {}, undefined, NOON, 'next tuesday', { kind: 'send', reason: 'within-policy' }],
    ['a failed rotation is snoozed', { kind: 'rotation-failed', severity: 'critical' }, undefined, NOON, LATER, { kind: 'send', reason: 'critical' }],
    ['an approval request is snoozed during quiet hours', { kind: 'approval-requested' }, { quietHours: NIGHT_UTC }, MIDNIGHT, LATER, { kind: 'send', reason: 'approval-requested' }],
    ['a non-critical failed rotation is snoozed during quiet hours', { kind: 'rotation-failed' }, { quietHours: NIGHT_UTC }, MIDNIGHT, LATER, { kind: 'digest', reason: 'quiet-hours' }],
    ['a critical one comes during quiet hours', { severity: 'critical' }, { quietHours: NIGHT_UTC }, MIDNIGHT, null, { kind: 'send', reason: 'critical' }],
    ['a critical one comes and only critical ones are wanted', { severity: 'critical' }, { minSeverity: 'critical' }, NOON, null, { kind: 'send', reason: 'critical' }],
    ['an approval request comes and only critical ones are wanted', { kind: 'approval-requested' }, { minSeverity: 'critical' }, NOON, null, { kind: 'send', reason: 'approval-requested' }],
    ['an info comes and warnings are the minimum', { severity: 'info' }, { minSeverity: 'warning' }, NOON, null, { kind: 'digest', reason: 'below-min-severity' }],
    ['a warning comes and warnings are the minimum', {}, { minSeverity: 'warning' }, NOON, null, { kind: 'send', reason: 'within-policy' }],
    ['a warning comes and critical is the minimum', {}, { minSeverity: 'critical' }, NOON, null, { kind: 'digest', reason: 'below-min-severity' }],
    ['an info comes below the minimum during quiet hours', { severity: 'info' }, { minSeverity: 'warning', quietHours: NIGHT_UTC }, MIDNIGHT, null, { kind: 'digest', reason: 'below-min-severity' }],
    ['a warning comes during quiet hours', {}, { quietHours: NIGHT_UTC }, MIDNIGHT, null, { kind: 'digest', reason: 'quiet-hours' }],
    ['a warning comes outside quiet hours', {}, { quietHours: NIGHT_UTC }, NOON, null, { kind: 'send', reason: 'within-policy' }],
    ['a digest comes during quiet hours below the minimum', { kind: 'digest', severity: 'info', subject: {} }, { minSeverity: 'critical', quietHours: NIGHT_UTC }, MIDNIGHT, null, { kind: 'send', reason: 'digest' }],
  ])('When %s, then the decision is as expected', (_name, overrides, policy, now, snoozedUntil, expected) => {
    expect(decideDelivery({ notification: aNotification(overrides), policy, now, snoozedUntil })).toEqual(expected);
  });

  it('When the policy names an unknown time zone, then a non-critical notification is refused with a clear error', () => {
    const policy: NotifyPolicy = { quietHours: { start: '22:00', end: '07:00', timeZone: 'Mars/Olympus' } };
    const decide = () => decideDelivery({ notification: aNotification(), policy, now: NOON, snoozedUntil: null });
    expect(decide).toThrow(PermanentError);
    expect(decide).toThrow('unknown time zone "Mars/Olympus" for quiet hours: use an IANA name such as "Europe/Berlin" or "UTC"');
  });

  it('When the policy holds a wildcard exclusion it does not understand, then deciding throws naming the entry', () => {
    const policy: NotifyPolicy = { exclude: ['www*'] };
    expect(() => decideDelivery({ notification: aNotification(), policy, now: NOON, snoozedUntil: null })).toThrow(/exclusion "www\*" is not understood/);
  });
});

describe('inQuietHours: local wall time in the IANA time zone', () => {
  it.each<[string, { start: string; end: string; timeZone?: string }, string, boolean]>([
    // A window across midnight, UTC (the default time zone).
    ['22:00–07:00 UTC at 21:59', NIGHT_UTC, '2026-06-01T21:59:00Z', false],
    ['22:00–07:00 UTC at 22:00 (start is inside)', NIGHT_UTC, '2026-06-01T22:00:00Z', true],
    ['22:00–07:00 UTC at 00:00', NIGHT_UTC, '2026-06-02T00:00:00Z', true],
    ['22:00–07:00 UTC at 06:59', NIGHT_UTC, '2026-06-02T06:59:00Z', true],
    ['22:00–07:00 UTC at 07:00 (end is outside)', NIGHT_UTC, '2026-06-02T07:00:00Z', false],
    ['22:00–07:00 explicitly UTC at 23:30', { ...NIGHT_UTC, timeZone: 'UTC' }, '2026-06-01T23:30:00Z', true],
    // Spring forward, Europe/Berlin: 2026-03-29 02:00 CET becomes 03:00 CEST (01:00 UTC).
    ['22:00–07:00 Berlin the morning before the change, 05:30 UTC = 06:30 CET', NIGHT_BERLIN, '2026-03-28T05:30:00Z', true],
    ['22:00–07:00 Berlin the morning of the change, 05:30 UTC = 07:30 CEST', NIGHT_BERLIN, '2026-03-29T05:30:00Z', false],
    ['22:00–07:00 UTC the morning of the change, 05:30 UTC', NIGHT_UTC, '2026-03-29T05:30:00Z', true],
    ['22:00–07:00 Berlin the evening before, 21:30 UTC = 22:30 CET', NIGHT_BERLIN, '2026-03-28T21:30:00Z', true],
    ['22:00–07:00 UTC the evening before, 21:30 UTC', NIGHT_UTC, '2026-03-28T21:30:00Z', false],
    ['22:00–07:00 Berlin just after the jump, 01:00 UTC = 03:00 CEST', NIGHT_BERLIN, '2026-03-29T01:00:00Z', true],
    ['02:00–03:00 Berlin (the skipped hour) at 00:59 UTC = 01:59 CET', { start: '02:00', end: '03:00', timeZone: 'Europe/Berlin' }, '2026-03-29T00:59:00Z', false],
    ['02:00–03:00 Berlin (the skipped hour) at 01:00 UTC = 03:00 CEST', { start: '02:00', end: '03:00', timeZone: 'Europe/Berlin' }, '2026-03-29T01:00:00Z', false],
    ['02:00–03:00 Berlin the day before, 01:30 UTC = 02:30 CET', { start: '02:00', end: '03:00', timeZone: 'Europe/Berlin' }, '2026-03-28T01:30:00Z', true],
    // Fall back, Europe/Berlin: 2026-10-25 03:00 CEST becomes 02:00 CET (01:00 UTC).
    ['22:00–07:00 Berlin the morning before the change, 05:30 UTC = 07:30 CEST', NIGHT_BERLIN, '2026-10-24T05:30:00Z', false],
    ['22:00–07:00 Berlin the morning of the change, 05:30 UTC = 06:30 CET', NIGHT_BERLIN, '2026-10-25T05:30:00Z', true],
    ['22:00–07:00 UTC the morning before the change, 05:30 UTC', NIGHT_UTC, '2026-10-24T05:30:00Z', true],
    ['22:00–07:00 Berlin the evening before, 20:30 UTC = 22:30 CEST', NIGHT_BERLIN, '2026-10-24T20:30:00Z', true],
    ['22:00–07:00 UTC the evening before, 20:30 UTC', NIGHT_UTC, '2026-10-24T20:30:00Z', false],
    ['02:00–03:00 Berlin the first 02:30, 00:30 UTC = 02:30 CEST', { start: '02:00', end: '03:00', timeZone: 'Europe/Berlin' }, '2026-10-25T00:30:00Z', true],
    ['02:00–03:00 Berlin the second 02:30, 01:30 UTC = 02:30 CET', { start: '02:00', end: '03:00', timeZone: 'Europe/Berlin' }, '2026-10-25T01:30:00Z', true],
    ['02:00–03:00 Berlin after the repeated hour, 02:00 UTC = 03:00 CET', { start: '02:00', end: '03:00', timeZone: 'Europe/Berlin' }, '2026-10-25T02:00:00Z', false],
    // Local midnight (rendered 00:00, never 24:00) and a same-day window.
    ['00:00–01:00 Berlin at 23:00 UTC in winter = 00:00 CET', { start: '00:00', end: '01:00', timeZone: 'Europe/Berlin' }, '2026-01-01T23:00:00Z', true],
    ['09:00–17:00 Berlin at 07:00 UTC in summer = 09:00 CEST', { start: '09:00', end: '17:00', timeZone: 'Europe/Berlin' }, '2026-06-01T07:00:00Z', true],
    ['09:00–17:00 Berlin at 15:00 UTC in summer = 17:00 CEST', { start: '09:00', end: '17:00', timeZone: 'Europe/Berlin' }, '2026-06-01T15:00:00Z', false],
    ['09:00–17:00 Berlin at 08:30 UTC in winter = 09:30 CET', { start: '09:00', end: '17:00', timeZone: 'Europe/Berlin' }, '2026-01-15T08:30:00Z', true],
    ['09:00–17:00 Berlin at 07:30 UTC in winter = 08:30 CET', { start: '09:00', end: '17:00', timeZone: 'Europe/Berlin' }, '2026-01-15T07:30:00Z', false],
  ])('When the window is %s, then it is quiet: %s', (_name, quiet, at, expected) => {
    expect(inQuietHours(quiet, new Date(at))).toBe(expected);
  });

  it.each(['2026-06-01T06:59:00Z', '2026-06-01T07:00:00Z', '2026-06-01T12:00:00Z', '2026-06-01T23:59:00Z', '2026-03-29T01:00:00Z'])(
    'When start equals end (07:00–07:00 Berlin), then %s is not quiet: there are no quiet hours',
    (at) => {
      expect(inQuietHours({ start: '07:00', end: '07:00', timeZone: 'Europe/Berlin' }, new Date(at))).toBe(false);
    },
  );

  it('When start equals end, then an unknown time zone is still reported (the typo does not wait)', () => {
    expect(() => inQuietHours({ start: '07:00', end: '07:00', timeZone: 'Europe/Berln' }, NOON)).toThrow(/unknown time zone "Europe\/Berln"/);
  });

  it.each([
    ['7:00', 'start'],
    ['24:00', 'start'],
    ['22:60', 'start'],
  ])('When the start is %s, then it is refused as not HH:MM', (start, field) => {
    expect(() => inQuietHours({ start, end: '07:00' }, NOON)).toThrow(new RegExp(`quiet hours ${field} "${start}" is not a time of day`));
  });

  it.each([
    ['2026-03-29T00:59:00Z', 'Europe/Berlin', 1 * 60 + 59],
    ['2026-03-29T01:00:00Z', 'Europe/Berlin', 3 * 60],
    ['2026-10-25T01:30:00Z', 'Europe/Berlin', 2 * 60 + 30],
    ['2026-06-01T12:34:00Z', 'UTC', 12 * 60 + 34],
    ['2026-06-01T12:00:00Z', 'Asia/Kolkata', 17 * 60 + 30],
    ['2026-06-01T12:00:00Z', 'America/New_York', 8 * 60],
  ])('When it is %s, then the wall clock in %s reads %i minutes after midnight', (at, tz, minutes) => {
    expect(localMinutes(new Date(at), tz)).toBe(minutes);
  });
});

describe('validateTimeZone', () => {
  it.each(['UTC', 'Europe/Berlin', 'europe/berlin', 'America/New_York', 'Etc/GMT+5'])('When the time zone is %s, then it is accepted', (tz) => {
    expect(() => validateTimeZone(tz)).not.toThrow();
  });

  it.each(['Mars/Olympus', 'CEST+1', '', 'Berlin'])('When the time zone is "%s", then it is refused with a PermanentError naming it', (tz) => {
    expect(() => validateTimeZone(tz)).toThrow(PermanentError);
    expect(() => validateTimeZone(tz)).toThrow(`unknown time zone "${tz}"`);
  });
});

describe('exclusions', () => {
  it.each<[string, Notification['subject'], boolean]>([
    ['www.acme.example:443', { endpoint: 'www.acme.example:443' }, true],
    ['WWW.Acme.Example:443', { endpoint: 'www.acme.example:443' }, true],
    ['www.acme.example:443', { endpoint: 'www.acme.example:8443' }, false],
    ['www.acme.example:443', { endpoint: 'wwwxacme.example:443' }, false],
    ['www.acme.example:443', { endpoint: 'www.acme.example:443/alt.acme.example' }, true],
    ['10.0.0.5:443/a.example', { endpoint: '10.0.0.5:443/a.example' }, true],
    ['10.0.0.5:443/a.example', { endpoint: '10.0.0.5:443/b.example' }, false],
    ['10.0.0.5:443/a.example', { endpoint: '10.0.0.5:443' }, false],
    ['*.lab.contoso.test:443', { endpoint: 'a.lab.contoso.test:443' }, true],
    ['*.lab.contoso.test:443', { endpoint: 'x.y.lab.contoso.test:443' }, true],
    ['*.lab.contoso.test:443', { endpoint: 'a.lab.contoso.test:443/sni.lab.contoso.test' }, true],
    ['*.lab.contoso.test:443', { endpoint: 'lab.contoso.test:443' }, false],
    ['*.lab.contoso.test:443', { endpoint: 'a.lab.contoso.test:8443' }, false],
    ['*.lab.contoso.test:443', { endpoint: 'evillab.contoso.test:443' }, false],
    ['*.lab.contoso.test:443', { endpoint: 'a.lab.contoso.test.evil:443' }, false],
    ['*.lab.contoso.test:*', { endpoint: 'a.lab.contoso.test:8443' }, true],
    ['*.lab.contoso.test:*', { endpoint: 'lab.contoso.test:8443' }, false],
    ['www-acme', { certificateId: 'www-acme' }, true],
    ['Www-Acme', { certificateId: 'www-acme' }, false],
    ['www-acme', { endpoint: 'www-acme:443' }, false],
    ['www.acme.example:443', { certificateId: 'www.acme.example:443' }, true],
    ['www.acme.example:443', {}, false],
  ])('When the exclusion is %s and the subject %j, then it matches: %s', (entry, subject, matches) => {
    expect(matchingExclusion(subject, [entry])).toBe(matches ? entry : null);
  });

  it('When several exclusions match, then the first listed is reported', () => {
    expect(matchingExclusion({ endpoint: 'a.lab.contoso.test:443', certificateId: 'lab' }, ['nope:1', '*.lab.contoso.test:*', 'lab'])).toBe('*.lab.contoso.test:*');
  });

  it.each(['web*', '*lab.contoso.test:443', 'a.*.contoso.test:443', '*.lab.contoso.test', 'host:44*', '*.lab.contoso.test:443/*', '*:443', '*.:443'])(
    'When the exclusion is %s, then it is refused as a wildcard this policy does not understand',
    (entry) => {
      expect(() => validateExclusion(entry)).toThrow(PermanentError);
      expect(() => validateExclusion(entry)).toThrow(`exclusion "${entry}" is not understood`);
    },
  );

  it.each(['www-acme', 'www.acme.example:443', '10.0.0.5:443/a.example', '*.lab.contoso.test:443', '*.lab.contoso.test:*'])(
    'When the exclusion is %s, then it is accepted',
    (entry) => {
      expect(() => validateExclusion(entry)).not.toThrow();
    },
  );
});

describe('routeTo', () => {
  const assignee = { name: 'Dana Reyes', email: 'dana@msp.example' };
  const escalation = { name: 'NOC lead', email: 'noc@msp.example' };

  it.each<[Notification['kind'], NotifyPolicy | undefined, 'assignee' | 'escalation']>([
    ['rotation-failed', undefined, 'escalation'],
    ['gate-changed', undefined, 'escalation'],
    ['certificate-state-changed', undefined, 'assignee'],
    ['rotation-completed', undefined, 'assignee'],
    ['approval-requested', undefined, 'assignee'],
    ['recommendation', { routes: [] }, 'assignee'],
    ['certificate-state-changed', { routes: [{ kinds: ['certificate-state-changed'], to: 'escalation' }] }, 'escalation'],
    ['rotation-failed', { routes: [{ kinds: ['rotation-failed'], to: 'assignee' }] }, 'assignee'],
    ['rotation-failed', { routes: [{ kinds: ['approval-requested'], to: 'escalation' }] }, 'escalation'],
    [
      'approval-requested',
      { routes: [{ kinds: ['recommendation', 'approval-requested'], to: 'escalation' }, { kinds: ['approval-requested'], to: 'assignee' }] },
      'escalation',
    ],
  ])('When a %s notification is routed by policy %j, then it goes to the %s', (kind, policy, expected) => {
    expect(routeTo(kind, policy, assignee, escalation)).toBe(expected);
  });

  it.each<[Notification['kind'], NotifyPolicy | undefined]>([
    ['rotation-failed', undefined],
    ['certificate-state-changed', { routes: [{ kinds: ['certificate-state-changed'], to: 'escalation' }] }],
  ])('When the tenant has no escalation contact, then a %s notification goes to the assignee', (kind, policy) => {
    expect(routeTo(kind, policy, assignee, undefined)).toBe('assignee');
  });
});
