/**
 * OutboxNotifier: appends each notification as one JSON line to a file (JSON Lines), for the
 * embedded runtime and for tests that read what would have been sent. The line is the
 * Notification object itself; receivers deduplicate on `id`.
 *
 * Each line is written with a single O_APPEND write, so concurrent senders in one process do not
 * interleave within a line. No fsync: a crash may lose the last lines, which the bus redelivers.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { PermanentError, RetryableError, errorMessage } from '../../domain/errors';
import type { Notification, Notifier } from '../../ports/notifier';

export interface OutboxNotifierOptions {
  /** The JSON Lines file; its directory is created when missing. */
  file: string;
}

/** Errors no retry can fix: the operator must change the path or its permissions. */
const PERMANENT_CODES = new Set(['EACCES', 'EPERM', 'EISDIR', 'ENOTDIR', 'EROFS']);

export class OutboxNotifier implements Notifier {
  readonly channel = 'outbox';

  constructor(private readonly options: OutboxNotifierOptions) {}

  async send(notification: Notification): Promise<void> {
    const { file } = this.options;
    try {
      await fs.mkdir(path.dirname(file), { recursive: true });
      await fs.appendFile(file, `${JSON.stringify(notification)}\n`, { encoding: 'utf8', mode: 0o640 });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? '';
      const message = `appending notification ${notification.id} to ${file} failed: ${errorMessage(err)}`;
      if (PERMANENT_CODES.has(code)) throw new PermanentError(`${message}; fix the outbox path or its permissions`, { cause: err });
      throw new RetryableError(`${message}; it will be retried`, { cause: err });
    }
  }
}
