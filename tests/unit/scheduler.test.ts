import { InvalidScheduleError, Scheduler, nextOccurrence } from '../../shared/adapters/local/scheduler';

describe('nextOccurrence (NCRONTAB, UTC)', () => {
  it.each([
    { case: 'every second', schedule: '* * * * * *', after: '2025-03-01T10:00:00.000Z', next: '2025-03-01T10:00:01.000Z' },
    { case: 'a fraction of a second is dropped', schedule: '* * * * * *', after: '2025-03-01T10:00:00.750Z', next: '2025-03-01T10:00:01.000Z' },
    { case: 'every 5 minutes (Azure docs example)', schedule: '0 */5 * * * *', after: '2025-03-01T10:03:10.000Z', next: '2025-03-01T10:05:00.000Z' },
    { case: 'strictly after an exact match', schedule: '0 */5 * * * *', after: '2025-03-01T10:05:00.000Z', next: '2025-03-01T10:10:00.000Z' },
    { case: 'top of every hour', schedule: '0 0 * * * *', after: '2025-03-01T10:59:59.000Z', next: '2025-03-01T11:00:00.000Z' },
    { case: 'daily at 06:30 rolls to tomorrow', schedule: '0 30 6 * * *', after: '2025-03-01T07:00:00.000Z', next: '2025-03-02T06:30:00.000Z' },
    { case: 'a list of hours', schedule: '0 0 9,13,17 * * *', after: '2025-03-01T13:00:00.000Z', next: '2025-03-01T17:00:00.000Z' },
    { case: 'a range of hours', schedule: '0 0 9-17 * * *', after: '2025-03-01T17:30:00.000Z', next: '2025-03-02T09:00:00.000Z' },
    { case: 'a stepped range', schedule: '0 0 8-18/4 * * *', after: '2025-03-01T12:00:00.000Z', next: '2025-03-01T16:00:00.000Z' },
    { case: 'weekdays only (Saturday 1 March 2025 → Monday)', schedule: '0 0 9 * * 1-5', after: '2025-03-01T00:00:00.000Z', next: '2025-03-03T09:00:00.000Z' },
    { case: 'Sunday is 0', schedule: '0 0 0 * * 0', after: '2025-03-01T00:00:00.000Z', next: '2025-03-02T00:00:00.000Z' },
    { case: 'month end rolls into the next year', schedule: '0 0 0 1 1 *', after: '2025-12-31T23:59:59.000Z', next: '2026-01-01T00:00:00.000Z' },
    { case: 'the 31st skips short months', schedule: '0 0 12 31 * *', after: '2025-04-01T00:00:00.000Z', next: '2025-05-31T12:00:00.000Z' },
    { case: '29 February waits for a leap year', schedule: '0 0 0 29 2 *', after: '2025-03-01T00:00:00.000Z', next: '2028-02-29T00:00:00.000Z' },
    { case: 'day AND weekday must both match (Friday the 13th)', schedule: '0 0 0 13 * 5', after: '2025-01-01T00:00:00.000Z', next: '2025-06-13T00:00:00.000Z' },
    { case: 'every 15 seconds within a minute', schedule: '*/15 * * * * *', after: '2025-03-01T10:00:46.000Z', next: '2025-03-01T10:01:00.000Z' },
  ])('When the schedule is "$schedule" ($case), then the next occurrence is $next', ({ schedule, after, next }) => {
    expect(nextOccurrence(schedule, new Date(after)).toISOString()).toBe(next);
  });

  it.each([
    { case: 'five fields (Unix cron)', schedule: '*/5 * * * *', message: /found 5 fields/ },
    { case: 'an empty string', schedule: '', message: /found 0 fields/ },
    { case: 'an hour of 24', schedule: '0 0 24 * * *', message: /hour value 24 is outside 0-23/ },
    { case: 'a weekday of 7', schedule: '0 0 0 * * 7', message: /day-of-week value 7 is outside 0-6/ },
    { case: 'a day of 0', schedule: '0 0 0 0 * *', message: /day value 0 is outside 1-31/ },
    { case: 'a backwards range', schedule: '0 0 17-9 * * *', message: /range 17-9 runs backwards/ },
    { case: 'a zero step', schedule: '*/0 * * * * *', message: /step .* must be at least 1/ },
    { case: 'a name', schedule: '0 0 0 * * MON', message: /"MON", which is not/ },
    { case: 'a date that never exists', schedule: '0 0 0 30 2 *', message: /matches no instant/ },
  ])('When the schedule has $case, then it is rejected clearly', ({ schedule, message }) => {
    expect(() => nextOccurrence(schedule, new Date('2025-03-01T00:00:00Z'))).toThrow(InvalidScheduleError);
    expect(() => nextOccurrence(schedule, new Date('2025-03-01T00:00:00Z'))).toThrow(message);
  });
});

describe('Scheduler', () => {
  it('When a job is scheduled every second, then it runs on the second until stopped', async () => {
    const scheduler = new Scheduler();
    const runs: number[] = [];
    scheduler.schedule('sweep', '* * * * * *', () => {
      runs.push(Date.now());
    });
    scheduler.start();
    await new Promise((r) => setTimeout(r, 2_300));
    scheduler.stop();
    const count = runs.length;
    await new Promise((r) => setTimeout(r, 1_100));

    expect(count).toBeGreaterThanOrEqual(2);
    expect(runs).toHaveLength(count);
    for (const at of runs) expect(at % 1000).toBeLessThan(400);
  });

  it('When a job throws, then it is logged and runs again at its next occurrence', async () => {
    const errors: object[] = [];
    const scheduler = new Scheduler({ logger: { error: (obj) => errors.push(obj) } });
    let runs = 0;
    scheduler.schedule('flaky', '* * * * * *', () => {
      runs += 1;
      throw new Error('boom');
    });
    scheduler.start();
    await new Promise((r) => setTimeout(r, 2_300));
    scheduler.stop();

    expect(runs).toBeGreaterThanOrEqual(2);
    expect(errors[0]).toEqual({ job: 'flaky', err: 'boom' });
  });

  it('When a job is scheduled with a bad expression, then schedule() throws at once', () => {
    expect(() => new Scheduler().schedule('bad', '0 0 25 * * *', () => undefined)).toThrow(/invalid NCRONTAB schedule "0 0 25 \* \* \*"/);
  });
});
