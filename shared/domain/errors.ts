/**
 * The error taxonomy every stage speaks (CONVENTIONS §5):
 * - PermanentError: the input can never succeed; record it, emit a failure, settle the message.
 * - RetryableError: a transient failure; rethrow so the bus redelivers, then dead-letters.
 * - NeedsHumanError: the machine cannot decide; settle and notify the assigned human.
 * - InvalidEventError: an event failed schema validation; it is dead-lettered with the errors.
 * Every message says what happened and what to do next.
 */
export class CertopsError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

export class PermanentError extends CertopsError {}
export class RetryableError extends CertopsError {}
export class NeedsHumanError extends CertopsError {}

export class InvalidEventError extends PermanentError {
  constructor(
    message: string,
    readonly errors: string[],
  ) {
    super(`${message}: ${errors.join('; ')}`);
  }
}

export class MalformedCertificateError extends PermanentError {}

/** An event names something (an endpoint, a certificate) that is not its tenant's: forged or misrouted. */
export class TenantScopeError extends PermanentError {}

export class ConfigError extends CertopsError {
  constructor(
    readonly source: string,
    readonly errors: string[],
  ) {
    super(`invalid configuration in ${source}:\n  - ${errors.join('\n  - ')}`);
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
