/**
 * The pipeline's topology, as data: the single source of truth for which stage consumes and emits
 * which event types, on which trigger. The Azure Functions entry points (functions/), the embedded
 * runner (pipeline/embedded-runtime.ts) and, later, the Pulumi program (infra/) all read this file.
 *
 * Transport: one Service Bus topic per event type; each consuming stage has one subscription,
 * named after the stage, on every topic it consumes. A publisher never knows its consumers.
 */
export const EVENT_TYPES = {
  sweepRequested: 'certops.sweep.requested.v1',
  discoveryRequested: 'certops.discovery.requested.v1',
  endpointDiscovered: 'certops.endpoint.discovered.v1',
  certificateAnalyzed: 'certops.certificate.analyzed.v1',
  renewalRequested: 'certops.renewal.requested.v1',
  renewalApproved: 'certops.renewal.approved.v1',
  approvalRequested: 'certops.approval.requested.v1',
  recommendationIssued: 'certops.recommendation.issued.v1',
  rotationCompleted: 'certops.rotation.completed.v1',
  rotationFailed: 'certops.rotation.failed.v1',
} as const;

export type EventType = (typeof EVENT_TYPES)[keyof typeof EVENT_TYPES];
export type StageName = 'ingest' | 'discover' | 'analyze' | 'gate' | 'rotate' | 'notify';

export interface TimerTrigger {
  /** NCRONTAB (six fields, UTC), as Azure Functions timer triggers read it. */
  schedule: string;
  /** The setting that may override the schedule (e.g. from config `sweepSchedule`). */
  scheduleSetting: string;
}

export interface StageDefinition {
  name: StageName;
  description: string;
  timer?: TimerTrigger;
  consumes: EventType[];
  emits: EventType[];
  /** Messages handled at once by one worker (embedded bus; maxConcurrentCalls on Azure). */
  concurrency: number;
}

export const STAGES: readonly StageDefinition[] = [
  {
    name: 'ingest',
    description: "Turns each tenant's configured targets into discovery work, daily and on demand.",
    timer: { schedule: '0 0 2 * * *', scheduleSetting: 'CERTOPS_SWEEP_SCHEDULE' },
    consumes: [EVENT_TYPES.sweepRequested],
    emits: [EVENT_TYPES.discoveryRequested],
    concurrency: 1,
  },
  {
    name: 'discover',
    description: 'TLS handshakes with SNI at every address of an endpoint; failures become findings.',
    consumes: [EVENT_TYPES.discoveryRequested],
    emits: [EVENT_TYPES.endpointDiscovered],
    concurrency: 64,
  },
  {
    name: 'analyze',
    description: 'Parses the chains, assesses expiry and findings, records the inventory, asks for renewals.',
    consumes: [EVENT_TYPES.endpointDiscovered],
    emits: [EVENT_TYPES.certificateAnalyzed, EVENT_TYPES.renewalRequested],
    concurrency: 8,
  },
  {
    name: 'gate',
    description: 'Applies the tenant gate policy (L0–L3) to each requested action.',
    consumes: [EVENT_TYPES.renewalRequested],
    emits: [EVENT_TYPES.renewalApproved, EVENT_TYPES.approvalRequested, EVENT_TYPES.recommendationIssued],
    concurrency: 8,
  },
  {
    name: 'rotate',
    description: 'Issues, deploys and verifies a new certificate; restores the old one and escalates on failure.',
    consumes: [EVENT_TYPES.renewalApproved],
    emits: [EVENT_TYPES.rotationCompleted, EVENT_TYPES.rotationFailed],
    concurrency: 4,
  },
  {
    name: 'notify',
    description: 'Tells the assigned human once per change of state: console, outbox file, signed webhook.',
    consumes: [
      EVENT_TYPES.certificateAnalyzed,
      EVENT_TYPES.approvalRequested,
      EVENT_TYPES.recommendationIssued,
      EVENT_TYPES.rotationCompleted,
      EVENT_TYPES.rotationFailed,
    ],
    emits: [],
    concurrency: 8,
  },
];

/** `certops.endpoint.discovered.v1` → `endpoint-discovered`: the Service Bus topic of an event type. */
export function topicOf(type: EventType): string {
  const m = /^certops\.(.+)\.v\d+$/.exec(type);
  if (!m) throw new Error(`not a certops event type: ${type}`);
  return m[1].replace(/\./g, '-');
}

export function stage(name: StageName): StageDefinition {
  const found = STAGES.find((s) => s.name === name);
  if (!found) throw new Error(`unknown stage ${name}`);
  return found;
}

/** Every topic with the subscriptions (one per consuming stage) that receive its events. */
export function routes(): Array<{ topic: string; type: EventType; subscriptions: StageName[] }> {
  return Object.values(EVENT_TYPES).map((type) => ({
    topic: topicOf(type),
    type,
    subscriptions: STAGES.filter((s) => s.consumes.includes(type)).map((s) => s.name),
  }));
}

export function typeOfTopic(topic: string): EventType {
  const found = Object.values(EVENT_TYPES).find((t) => topicOf(t) === topic);
  if (!found) throw new Error(`unknown topic ${topic}`);
  return found;
}
