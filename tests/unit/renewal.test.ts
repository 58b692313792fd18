import { MS_PER_DAY, MS_PER_HOUR } from '../../shared/domain/clock';
import {
  assessExpiry,
  needsRenewal,
  renewalTime,
  type ExpiryReason,
  type ExpiryStatus,
  type RenewalPolicy,
  type RenewalTimeReason,
  type Validity,
} from '../../shared/domain/renewal';

// Builders: a certificate is a lifetime starting at a fixed instant; moments are measured from
// either end of it, the way an operator speaks ("3 days left", "1 hour after issue").
const ISSUED_AT = new Date('2026-01-01T00:00:00Z');
const days = (n: number) => n * MS_PER_DAY;
const hours = (n: number) => n * MS_PER_HOUR;

function aCertificate(lifetimeMs: number): Validity {
  return { notBefore: ISSUED_AT, notAfter: new Date(ISSUED_AT.getTime() + lifetimeMs) };
}
function withLeft(cert: Validity, ms: number): Date {
  return new Date(cert.notAfter.getTime() - ms);
}
function afterIssue(cert: Validity, ms: number): Date {
  return new Date(cert.notBefore.getTime() + ms);
}

describe('assessExpiry across certificate lifetimes', () => {
  const cases: Array<[string, number, number, ExpiryStatus, ExpiryReason]> = [
    // name, lifetime, time left, expected status, expected reason
    ['a 90-day certificate with 60 days left is healthy', days(90), days(60), 'healthy', 'BeforeRenewalTime'],
    ['a 90-day certificate one millisecond before 2/3 of its lifetime is healthy', days(90), days(30) + 1, 'healthy', 'BeforeRenewalTime'],
    ['a 90-day certificate exactly at 2/3 of its lifetime is due for renewal', days(90), days(30), 'renewal-due', 'PastRenewalTime'],
    ['a 90-day certificate with 20 days left is due for renewal', days(90), days(20), 'renewal-due', 'PastRenewalTime'],
    ['a 90-day certificate with exactly 14 days left is not yet expiring', days(90), days(14), 'renewal-due', 'PastRenewalTime'],
    ['a 90-day certificate with 14 days less 1 ms left is expiring', days(90), days(14) - 1, 'expiring', 'WithinExpiringWindow'],
    ['a 90-day certificate with exactly 3 days left is expiring, not critical', days(90), days(3), 'expiring', 'WithinExpiringWindow'],
    ['a 90-day certificate with 3 days less 1 ms left is critical', days(90), days(3) - 1, 'critical', 'WithinCriticalWindow'],
    ['a 90-day certificate at its notAfter instant is critical, not expired (RFC 5280 inclusive)', days(90), 0, 'critical', 'WithinCriticalWindow'],
    ['a 90-day certificate 1 ms after its notAfter is expired', days(90), -1, 'expired', 'Expired'],
    ['a 398-day certificate with 200 days left is healthy', days(398), days(200), 'healthy', 'BeforeRenewalTime'],
    ['a 398-day certificate with 100 days left is due for renewal', days(398), days(100), 'renewal-due', 'PastRenewalTime'],
    ['a 398-day certificate with 10 days left is expiring', days(398), days(10), 'expiring', 'WithinExpiringWindow'],
    ['a 398-day certificate with 2 days left is critical', days(398), days(2), 'critical', 'WithinCriticalWindow'],
    ['a 200-day certificate with 70 days left is healthy', days(200), days(70), 'healthy', 'BeforeRenewalTime'],
    ['a 200-day certificate with 60 days left is due for renewal', days(200), days(60), 'renewal-due', 'PastRenewalTime'],
    ['a 200-day certificate with 13 days left is expiring', days(200), days(13), 'expiring', 'WithinExpiringWindow'],
    ['a 200-day certificate with 2.5 days left is critical', days(200), days(2.5), 'critical', 'WithinCriticalWindow'],
    ['a 47-day certificate with 20 days left is healthy', days(47), days(20), 'healthy', 'BeforeRenewalTime'],
    ['a 47-day certificate with 10 days left is due, not expiring (window scaled to 47/6 days)', days(47), days(10), 'renewal-due', 'PastRenewalTime'],
    ['a 47-day certificate with 7 days left is expiring', days(47), days(7), 'expiring', 'WithinExpiringWindow'],
    ['a 47-day certificate with 2.5 days left is expiring, not critical (window scaled to 47/20 days)', days(47), days(2.5), 'expiring', 'WithinExpiringWindow'],
    ['a 47-day certificate with 2 days left is critical', days(47), days(2), 'critical', 'WithinCriticalWindow'],
    ['a 6-day certificate with 3 days left is healthy', days(6), days(3), 'healthy', 'BeforeRenewalTime'],
    ['a 6-day certificate with 36 hours left is due for renewal', days(6), hours(36), 'renewal-due', 'PastRenewalTime'],
    ['a 6-day certificate with 20 hours left is expiring', days(6), hours(20), 'expiring', 'WithinExpiringWindow'],
    ['a 6-day certificate with 8 hours left is expiring, not critical', days(6), hours(8), 'expiring', 'WithinExpiringWindow'],
    ['a 6-day certificate with 6 hours left is critical', days(6), hours(6), 'critical', 'WithinCriticalWindow'],
    ['a 24-hour certificate 1 hour after issue is healthy', hours(24), hours(23), 'healthy', 'BeforeRenewalTime'],
    ['a 24-hour certificate with 12 hours left is still healthy', hours(24), hours(12), 'healthy', 'BeforeRenewalTime'],
    ['a 24-hour certificate with exactly 8 hours left is due for renewal', hours(24), hours(8), 'renewal-due', 'PastRenewalTime'],
    ['a 24-hour certificate with exactly 4 hours left is not yet expiring', hours(24), hours(4), 'renewal-due', 'PastRenewalTime'],
    ['a 24-hour certificate with 3 hours left is expiring', hours(24), hours(3), 'expiring', 'WithinExpiringWindow'],
    ['a 24-hour certificate with exactly 72 minutes left is expiring, not critical', hours(24), hours(1.2), 'expiring', 'WithinExpiringWindow'],
    ['a 24-hour certificate with 1 hour left is critical', hours(24), hours(1), 'critical', 'WithinCriticalWindow'],
    ['a 24-hour certificate 1 minute after expiry is expired', hours(24), -60_000, 'expired', 'Expired'],
  ];

  it.each(cases)('When %s, then its status says so', (_name, lifetime, left, status, reason) => {
    const cert = aCertificate(lifetime);
    const assessment = assessExpiry(cert, withLeft(cert, left));
    expect({ status: assessment.status, reason: assessment.reason }).toEqual({ status, reason });
    expect(assessment.msLeft).toBe(left);
  });
});

describe('assessExpiry windows and numbers', () => {
  it.each([
    ['90-day', days(90), days(14), days(3)],
    ['398-day', days(398), days(14), days(3)],
    ['47-day', days(47), days(47) / 6, days(47) / 20],
    ['6-day', days(6), days(1), hours(7.2)],
    ['24-hour', hours(24), hours(4), hours(1.2)],
  ])('When a %s certificate is assessed, then its windows are min(14 d, 1/6) and min(3 d, 1/20) of the lifetime', (_n, lifetime, expiring, critical) => {
    const cert = aCertificate(lifetime);
    const a = assessExpiry(cert, cert.notBefore);
    expect(a.expiringWithinMs).toBe(Math.floor(expiring));
    expect(a.criticalWithinMs).toBe(Math.floor(critical));
  });

  it.each([
    ['10 days left', days(10), 10],
    ['half a day left', hours(12), 0],
    ['1 ms past expiry', -1, -1],
    ['36 hours past expiry', -hours(36), -2],
  ])('When a certificate has %s, then daysLeft is rounded down', (_n, left, expected) => {
    const cert = aCertificate(days(90));
    expect(assessExpiry(cert, withLeft(cert, left)).daysLeft).toBe(expected);
  });

  it('When a critical 90-day certificate has 2.5 days left, then the message gives the days, the date and the next step', () => {
    const cert = aCertificate(days(90)); // notAfter 2026-04-01
    expect(assessExpiry(cert, withLeft(cert, days(2.5))).message).toBe(
      'expires in 2 days (2026-04-01); renew now',
    );
  });

  it('When a 24-hour certificate has 3 hours left, then the message speaks in hours and minutes of UTC', () => {
    const cert = aCertificate(hours(24));
    expect(assessExpiry(cert, withLeft(cert, hours(3))).message).toBe(
      'expires in 3 hours (2026-01-02T00:00Z), inside its 4 hours expiring window; renew now',
    );
  });

  it('When a healthy certificate is assessed, then the message says when renewal is scheduled and why', () => {
    const cert = aCertificate(days(90));
    expect(assessExpiry(cert, withLeft(cert, days(60))).message).toBe(
      'expires in 60 days (2026-04-01); renewal is scheduled for 2026-03-02 (at 2/3 of its lifetime by default)',
    );
  });

  it('When a certificate expired 5 days ago, then the message says so and asks to renew and deploy', () => {
    const cert = aCertificate(days(90));
    const a = assessExpiry(cert, withLeft(cert, -days(5)));
    expect(a.message).toBe('expired 5 days ago (2026-04-01); renew and deploy now');
    expect(a.daysLeft).toBe(-5);
  });
});

describe('assessExpiry before the validity period', () => {
  it('When now is 1 ms before notBefore, then the certificate is not yet valid and the message names the start', () => {
    const cert = aCertificate(days(90));
    const a = assessExpiry(cert, afterIssue(cert, -1));
    expect(a.status).toBe('not-yet-valid');
    expect(a.reason).toBe('NotYetValid');
    expect(a.message).toContain('is not valid until 2026-01-01');
  });

  it('When now is exactly notBefore, then the certificate is valid (RFC 5280 inclusive) and healthy', () => {
    const cert = aCertificate(days(90));
    expect(assessExpiry(cert, cert.notBefore).status).toBe('healthy');
  });

  it('When a certificate was issued in the future and is also short-lived, then not-yet-valid takes precedence over critical', () => {
    const cert = aCertificate(hours(1));
    expect(assessExpiry(cert, afterIssue(cert, -hours(2))).status).toBe('not-yet-valid');
  });
});

describe('renewalTime by policy', () => {
  const cases: Array<[string, number, RenewalPolicy | undefined, number, RenewalTimeReason]> = [
    // name, lifetime, policy, expected renewal time as time LEFT, expected reason
    ['no policy renews a 90-day certificate with 30 days left', days(90), undefined, days(30), 'DefaultTwoThirdsOfLifetime'],
    ['no policy renews a 24-hour certificate with 8 hours left', hours(24), undefined, hours(8), 'DefaultTwoThirdsOfLifetime'],
    ['45 days before expiry renews a 90-day certificate with 45 days left', days(90), { renewBeforeDays: 45 }, days(45), 'PolicyDaysBeforeExpiry'],
    ['a ratio of 0.5 renews a 90-day certificate with 45 days left', days(90), { renewAtRatio: 0.5 }, days(45), 'PolicyRatioOfLifetime'],
    ['days and ratio together: the days win when shorter than the lifetime', days(90), { renewBeforeDays: 20, renewAtRatio: 0.5 }, days(20), 'PolicyDaysBeforeExpiry'],
    ['30 days before expiry on a 24-hour certificate falls back to 2/3', hours(24), { renewBeforeDays: 30 }, hours(8), 'PolicyExceedsLifetime'],
    ['days exactly equal to the lifetime fall back to 2/3', days(90), { renewBeforeDays: 90 }, days(30), 'PolicyExceedsLifetime'],
    ['days longer than the lifetime fall back to the ratio when one is set', hours(24), { renewBeforeDays: 30, renewAtRatio: 0.5 }, hours(12), 'PolicyRatioOfLifetime'],
    ['7 days before expiry on a 90-day certificate is moved to the 14-day expiring window', days(90), { renewBeforeDays: 7 }, days(14), 'PolicyDaysBeforeExpiry'],
    ['a ratio of 0.95 on a 90-day certificate is moved to the 14-day expiring window', days(90), { renewAtRatio: 0.95 }, days(14), 'PolicyRatioOfLifetime'],
    ['a ratio of 5/6 on a 24-hour certificate is exactly the 4-hour window and is not moved', hours(24), { renewAtRatio: 5 / 6 }, hours(4), 'PolicyRatioOfLifetime'],
  ];

  it.each(cases)('When %s, then renewalTime says so', (_name, lifetime, policy, left, reason) => {
    const cert = aCertificate(lifetime);
    expect(renewalTime(cert, policy)).toEqual({ at: withLeft(cert, left), reason });
  });

  it('When the policy asks for 7 days on a 90-day certificate and 10 days remain, then it is expiring and past its renewal time', () => {
    const cert = aCertificate(days(90));
    const a = assessExpiry(cert, withLeft(cert, days(10)), { renewBeforeDays: 7 });
    expect(a.status).toBe('expiring');
    expect(a.renewAt.getTime()).toBeLessThanOrEqual(withLeft(cert, days(10)).getTime());
  });

  it('When the policy is days before expiry, then the status follows it', () => {
    const cert = aCertificate(days(90));
    const policy = { renewBeforeDays: 45 };
    expect(assessExpiry(cert, withLeft(cert, days(46)), policy).status).toBe('healthy');
    const due = assessExpiry(cert, withLeft(cert, days(44)), policy);
    expect(due.status).toBe('renewal-due');
    expect(due.renewAtReason).toBe('PolicyDaysBeforeExpiry');
    expect(due.message).toContain("by the tenant's days-before-expiry policy");
  });

  it.each([
    ['renewBeforeDays 0', { renewBeforeDays: 0 }],
    ['renewBeforeDays -1', { renewBeforeDays: -1 }],
    ['renewBeforeDays NaN', { renewBeforeDays: Number.NaN }],
    ['renewAtRatio 0', { renewAtRatio: 0 }],
    ['renewAtRatio 1', { renewAtRatio: 1 }],
    ['renewAtRatio 1.5', { renewAtRatio: 1.5 }],
  ])('When the policy has %s, then renewalTime refuses it with a RangeError', (_n, policy) => {
    expect(() => renewalTime(aCertificate(days(90)), policy)).toThrow(RangeError);
  });

  it('When a date is invalid, then assessExpiry refuses it with a RangeError', () => {
    const cert = { notBefore: new Date('nonsense'), notAfter: new Date('2026-04-01T00:00:00Z') };
    expect(() => assessExpiry(cert, ISSUED_AT)).toThrow(RangeError);
  });
});

describe('the status only moves forward through a lifetime', () => {
  const RANK: Record<ExpiryStatus, number> = {
    'not-yet-valid': 0, healthy: 1, 'renewal-due': 2, expiring: 3, critical: 4, expired: 5,
  };
  const lifetimes = [hours(24), days(6), days(47), days(90), days(200), days(398)];
  const policies: Array<RenewalPolicy | undefined> = [
    undefined, { renewBeforeDays: 1 }, { renewBeforeDays: 7 }, { renewBeforeDays: 400 }, { renewAtRatio: 0.1 }, { renewAtRatio: 0.99 },
  ];

  it.each(lifetimes.flatMap((l) => policies.map((p) => [l / MS_PER_DAY, JSON.stringify(p ?? {}), l, p] as const)))(
    'When a %s-day certificate with policy %s is swept hour by hour, then statuses never go back and it is never expiring before its renewal time',
    (_h, _p, lifetime, policy) => {
      const cert = aCertificate(lifetime);
      let previous = -1;
      for (let t = -hours(1); t <= lifetime + hours(1); t += Math.max(hours(1), lifetime / 500)) {
        const now = afterIssue(cert, t);
        const a = assessExpiry(cert, now, policy);
        expect(RANK[a.status]).toBeGreaterThanOrEqual(previous);
        previous = RANK[a.status];
        if (a.status === 'expiring' || a.status === 'critical') {
          expect(now.getTime()).toBeGreaterThanOrEqual(a.renewAt.getTime());
        }
      }
    },
  );
});

describe('needsRenewal', () => {
  it.each<[ExpiryStatus, boolean]>([
    ['healthy', false],
    ['not-yet-valid', false],
    ['renewal-due', true],
    ['expiring', true],
    ['critical', true],
    ['expired', true],
  ])('When the status is %s, then needsRenewal is %s', (status, expected) => {
    expect(needsRenewal(status)).toBe(expected);
  });
});
