/**
 * Timer triggers for the embedded runtime, with the schedule syntax Azure Functions timer triggers
 * use: NCRONTAB with six fields, `second minute hour day month day-of-week`, evaluated in UTC.
 * Each field takes `*`, a number, a list `a,b`, a range `a-b`, and steps `*∕n` or `a-b∕n`.
 *
 * As NCrontab (and unlike Vixie cron), a restricted day AND a restricted day-of-week must both
 * match: `0 0 0 13 * 5` is every Friday the 13th, not every 13th and every Friday.
 * Day-of-week runs 0 (Sunday) to 6 (Saturday).
 */
import { systemClock, type Clock } from '../../domain/clock';
import { errorMessage } from '../../domain/errors';

interface FieldSpec {
  name: string;
  min: number;
  max: number;
}

const FIELDS: FieldSpec[] = [
  { name: 'second', min: 0, max: 59 },
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12 },
  { name: 'day-of-week', min: 0, max: 6 },
];

/** A schedule that never matches (`0 0 0 30 2 *`) is found within this many years, or rejected. */
const SEARCH_YEARS = 8;

export class InvalidScheduleError extends Error {
  constructor(schedule: string, problem: string) {
    super(`invalid NCRONTAB schedule "${schedule}": ${problem} (expected 6 fields: second minute hour day month day-of-week)`);
    this.name = 'InvalidScheduleError';
  }
}

interface ParsedSchedule {
  seconds: Set<number>;
  minutes: Set<number>;
  hours: Set<number>;
  days: Set<number>;
  months: Set<number>;
  weekdays: Set<number>;
}

/** Parses a schedule; throws InvalidScheduleError naming the bad field. */
export function parseNcrontab(schedule: string): ParsedSchedule {
  const parts = schedule.trim().split(/\s+/);
  if (parts.length !== 6 || parts[0] === '') {
    throw new InvalidScheduleError(schedule, `found ${parts[0] === '' ? 0 : parts.length} fields`);
  }
  const [seconds, minutes, hours, days, months, weekdays] = parts.map((part, i) => parseField(schedule, part, FIELDS[i]));
  return { seconds, minutes, hours, days, months, weekdays };
}

function parseField(schedule: string, text: string, field: FieldSpec): Set<number> {
  const values = new Set<number>();
  for (const item of text.split(',')) {
    const match = /^(\*|(\d+)(?:-(\d+))?)(?:\/(\d+))?$/.exec(item);
    if (!match) throw new InvalidScheduleError(schedule, `the ${field.name} field has "${item}", which is not *, n, a-b or a step`);
    const [, whole, from, to, step] = match;
    let low = field.min;
    let high = field.max;
    if (whole !== '*') {
      low = check(schedule, field, Number(from));
      // `n/s` means from n to the end, as NCrontab reads it.
      high = to !== undefined ? check(schedule, field, Number(to)) : step !== undefined ? field.max : low;
    }
    if (low > high) throw new InvalidScheduleError(schedule, `the ${field.name} range ${item} runs backwards`);
    const stride = step === undefined ? 1 : Number(step);
    if (stride < 1) throw new InvalidScheduleError(schedule, `the ${field.name} step in "${item}" must be at least 1`);
    for (let value = low; value <= high; value += stride) values.add(value);
  }
  return values;
}

function check(schedule: string, field: FieldSpec, value: number): number {
  if (value < field.min || value > field.max) {
    throw new InvalidScheduleError(schedule, `the ${field.name} value ${value} is outside ${field.min}-${field.max}`);
  }
  return value;
}

/**
 * The first instant strictly after `after` (to the second, UTC) that the schedule matches.
 * Throws InvalidScheduleError for a bad expression or one that never matches.
 */
export function nextOccurrence(schedule: string, after: Date): Date {
  const s = parseNcrontab(schedule);
  const t = new Date(Math.floor(after.getTime() / 1000) * 1000 + 1000);
  const limit = after.getTime() + SEARCH_YEARS * 366 * 86_400_000;
  // Jump field by field from the largest: a mismatch resets every smaller field to its start.
  while (t.getTime() <= limit) {
    if (!s.months.has(t.getUTCMonth() + 1)) {
      t.setUTCMonth(t.getUTCMonth() + 1, 1);
      t.setUTCHours(0, 0, 0, 0);
      continue;
    }
    if (!s.days.has(t.getUTCDate()) || !s.weekdays.has(t.getUTCDay())) {
      t.setUTCDate(t.getUTCDate() + 1);
      t.setUTCHours(0, 0, 0, 0);
      continue;
    }
    if (!s.hours.has(t.getUTCHours())) {
      t.setUTCHours(t.getUTCHours() + 1, 0, 0, 0);
      continue;
    }
    if (!s.minutes.has(t.getUTCMinutes())) {
      t.setUTCMinutes(t.getUTCMinutes() + 1, 0, 0);
      continue;
    }
    if (!s.seconds.has(t.getUTCSeconds())) {
      t.setUTCSeconds(t.getUTCSeconds() + 1, 0);
      continue;
    }
    return t;
  }
  throw new InvalidScheduleError(schedule, `it matches no instant within ${SEARCH_YEARS} years`);
}

/** setTimeout's longest delay (2^31 - 1 ms, about 24.8 days); longer waits are re-armed. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface SchedulerLogger {
  error(obj: object, msg: string): void;
}

interface Job {
  name: string;
  schedule: string;
  fn: () => Promise<void> | void;
  timer: NodeJS.Timeout | null;
}

/**
 * Runs named jobs on NCRONTAB schedules. A run never overlaps the previous run of the same job
 * (as a timer trigger's singleton lock): the next occurrence is computed when a run ends. A job
 * that throws is logged and runs again at its next occurrence.
 */
export class Scheduler {
  private readonly jobs = new Map<string, Job>();
  private running = false;

  constructor(private readonly options: { clock?: Clock; logger?: SchedulerLogger } = {}) {}

  /** Validates the schedule at once (throws InvalidScheduleError); names are unique. */
  schedule(name: string, ncrontab: string, fn: () => Promise<void> | void): void {
    if (this.jobs.has(name)) throw new Error(`a job named ${name} is already scheduled`);
    nextOccurrence(ncrontab, this.now());
    const job: Job = { name, schedule: ncrontab, fn, timer: null };
    this.jobs.set(name, job);
    if (this.running) this.arm(job);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    for (const job of this.jobs.values()) this.arm(job);
  }

  stop(): void {
    this.running = false;
    for (const job of this.jobs.values()) {
      if (job.timer) clearTimeout(job.timer);
      job.timer = null;
    }
  }

  private now(): Date {
    return (this.options.clock ?? systemClock).now();
  }

  private arm(job: Job): void {
    const due = nextOccurrence(job.schedule, this.now()).getTime();
    const wait = (): void => {
      if (!this.running) return;
      const remaining = due - this.now().getTime();
      if (remaining > 0) {
        job.timer = setTimeout(wait, Math.min(remaining, MAX_TIMER_MS));
        return;
      }
      job.timer = null;
      void this.run(job);
    };
    wait();
  }

  private async run(job: Job): Promise<void> {
    try {
      await job.fn();
    } catch (err) {
      this.options.logger?.error({ job: job.name, err: errorMessage(err) }, 'scheduled job failed; it runs again at its next occurrence');
    }
    if (this.running) this.arm(job);
  }
}
