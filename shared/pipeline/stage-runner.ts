/**
 * Runs one stage on one raw message, the same way for every transport:
 * validate the input (envelope, type, data schema) → handler → validate every output.
 *
 * Outcomes (CONVENTIONS §5):
 * - completed: publish `emitted`, then settle the message;
 * - dead-letter: the input can never succeed (invalid event, permanent failure, or an output that
 *   breaks its schema): dead-letter it with the reason, never crash the worker, never drop it;
 * - a thrown error: transient; the transport redelivers with backoff, then dead-letters.
 */
import { randomUUID } from 'node:crypto';
import type { CloudEvent } from '../domain/events';
import { InvalidEventError, NeedsHumanError, PermanentError, errorMessage } from '../domain/errors';
import { invocationLogger } from '../observability/logger';
import { validateEvent } from './event-schemas';
import { stageContext, type PipelineDeps, type StageHandler } from './stage';
import { stage as stageDefinition, type StageName } from './topology';

export type StageOutcome =
  | { kind: 'completed'; emitted: CloudEvent[] }
  | { kind: 'dead-letter'; reason: string; description: string };

export async function runStage(
  name: StageName,
  handler: StageHandler,
  body: unknown,
  deps: PipelineDeps,
): Promise<StageOutcome> {
  const definition = stageDefinition(name);
  const startedAt = process.hrtime.bigint();
  const seconds = () => Number(process.hrtime.bigint() - startedAt) / 1e9;
  const deadLetter = (tenant: string | undefined, reason: string, description: string): StageOutcome => {
    deps.metrics?.stageOutcome(name, tenant, 'dead_letter', seconds());
    deps.metrics?.deadLetter(name, reason);
    return { kind: 'dead-letter', reason, description };
  };
  let event: CloudEvent;
  try {
    event = validateEvent(body, definition.consumes);
  } catch (err) {
    const description = errorMessage(err);
    deps.logger.warn({ stage: name, reason: 'InvalidEvent', errors: (err as InvalidEventError).errors }, 'dead-lettering an invalid event');
    return deadLetter(undefined, 'InvalidEvent', description);
  }

  const log = invocationLogger(deps.logger, {
    stage: name,
    tenantId: event.tenantid,
    correlationId: event.correlationid,
    eventId: event.id,
  });
  const ctx = stageContext(name, event, deps, log);
  let emitted: CloudEvent[];
  try {
    emitted = await handler(event, ctx);
  } catch (err) {
    if (err instanceof PermanentError || err instanceof NeedsHumanError) {
      log.error({ err, reason: err.name }, 'stage failed permanently; dead-lettering its input');
      return deadLetter(event.tenantid, err.name, err.message);
    }
    log.warn({ err }, 'stage failed; the message will be retried');
    deps.metrics?.stageOutcome(name, event.tenantid, 'retried', seconds());
    throw err;
  }

  const outputErrors: string[] = [];
  for (const out of emitted) {
    try {
      validateEvent(out, definition.emits);
    } catch (err) {
      outputErrors.push(errorMessage(err));
    }
  }
  if (outputErrors.length > 0) {
    log.error({ errors: outputErrors }, 'stage produced invalid events; dead-lettering its input');
    return deadLetter(event.tenantid, 'InvalidOutput', outputErrors.join(' | '));
  }
  deps.metrics?.stageOutcome(name, event.tenantid, 'completed', seconds());
  log.debug({ emitted: emitted.length, ms: seconds() * 1000 }, 'stage completed');
  return { kind: 'completed', emitted };
}

/** A new correlation id for work that starts here (a timer tick, a CLI command). */
export function newCorrelationId(): string {
  return randomUUID();
}
