/**
 * CloudEvents 1.0 JSON envelopes (https://github.com/cloudevents/spec, JSON format).
 * Every event certops emits is a past-tense fact with a version in its type, e.g.
 * `certops.endpoint.discovered.v1`. The data of each type has its own JSON Schema
 * (pipeline/event-schemas.ts), checked at every stage boundary, in and out.
 */
export interface CloudEvent<T = unknown> {
  specversion: '1.0';
  id: string;
  source: string;
  type: string;
  time: string;
  datacontenttype: 'application/json';
  subject?: string;
  /** Extension attributes (CloudEvents §3.1.1: lower-case alphanumerics). */
  tenantid: string;
  correlationid: string;
  data: T;
}

export function cloudEvent<T>(fields: {
  id: string;
  type: string;
  source: string;
  time: Date;
  tenantId: string;
  correlationId: string;
  subject?: string;
  data: T;
}): CloudEvent<T> {
  const event: CloudEvent<T> = {
    specversion: '1.0',
    id: fields.id,
    source: fields.source,
    type: fields.type,
    time: fields.time.toISOString(),
    datacontenttype: 'application/json',
    tenantid: fields.tenantId,
    correlationid: fields.correlationId,
    data: fields.data,
  };
  if (fields.subject !== undefined) event.subject = fields.subject;
  return event;
}
