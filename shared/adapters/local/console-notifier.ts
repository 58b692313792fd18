/**
 * ConsoleNotifier: the notification channel for a terminal (the demo, `certops run` in a shell).
 * Prints two lines per notification: severity marker, tenant, title and who is told, then the
 * text and the subject, indented. Never throws for content; write errors of the stream surface
 * as the stream's own errors.
 */
import type { Notification, Notifier } from '../../ports/notifier';

export interface LineSink {
  write(chunk: string): unknown;
}

export interface ConsoleNotifierOptions {
  /** Where lines go; process.stdout by default. */
  stream?: LineSink;
}

const MARKERS: Record<Notification['severity'], string> = {
  info: '[INFO]    ',
  warning: '[WARNING] ',
  critical: '[CRITICAL]',
};

export class ConsoleNotifier implements Notifier {
  readonly channel = 'console';
  private readonly stream: LineSink;

  constructor(options: ConsoleNotifierOptions = {}) {
    this.stream = options.stream ?? process.stdout;
  }

  async send(n: Notification): Promise<void> {
    const to = n.to.email ? `${n.to.name} <${n.to.email}>` : n.to.name;
    const subject = [n.subject.endpoint, n.subject.certificateId].filter(Boolean).join(' ');
    const first = `${MARKERS[n.severity]} ${oneLine(n.tenantId)}: ${oneLine(n.title)} -> ${oneLine(to)}`;
    const second = `           ${oneLine(n.text)}${subject ? ` (${oneLine(subject)})` : ''}`;
    this.stream.write(`${first}\n${second}\n`);
  }
}

/** Control characters in a title or text must not forge extra lines (log injection). */
function oneLine(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f]+/g, ' ');
}
