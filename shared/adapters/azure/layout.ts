/**
 * The names the Azure adapters and the Pulumi program (infra/) share: one place, so that what the
 * code reads is what the infrastructure creates.
 *
 * Cosmos DB: one database, two containers, both partitioned by tenant: `state` holds every
 * document of the CertificateStore and the ACME order journal (a `type` field tells them apart),
 * `audit` the per-tenant hash chains. Service Bus: the topics and subscriptions of the topology
 * (pipeline/topology.ts), plus one topic for what a Functions trigger dead-letters with a reason.
 */
export const COSMOS_DATABASE = 'certops';
export const COSMOS_CONTAINERS = { state: 'state', audit: 'audit' } as const;
export const COSMOS_PARTITION_KEY_PATH = '/tenantId';

/** Dead-lettered events with their reason (application properties `reason`, `description`, `topic`, `subscription`). */
export const DEAD_LETTER_TOPIC = 'certops-dead-letters';
/** Its one subscription, read by operators and by `deadLetters()`. */
export const DEAD_LETTER_SUBSCRIPTION = 'operators';

/** As the embedded bus: the rotation lease (30 s) must not outlive the lock. */
export const SERVICE_BUS_SUBSCRIPTION_SETTINGS = {
  lockDuration: 'PT30S',
  maxDeliveryCount: 5,
  deadLetteringOnMessageExpiration: true,
  defaultMessageTimeToLive: 'P14D',
} as const;

/** Message ids are idempotency keys: a redelivered stage re-emits the same ids, dropped within this window. */
export const SERVICE_BUS_TOPIC_SETTINGS = {
  requiresDuplicateDetection: true,
  duplicateDetectionHistoryTimeWindow: 'PT10M',
} as const;
