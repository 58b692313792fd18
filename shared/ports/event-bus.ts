/**
 * EventBus: topics and subscriptions with Service Bus semantics (the Azure adapter and the
 * embedded bus behave alike):
 * - publish fans an event out to every subscription of its topic (topology.ts says which);
 * - at-least-once delivery under a lock; a handler that resolves completes the message;
 * - a handler that throws abandons it: redelivery after a backoff, until maxDeliveryCount,
 *   then the message is dead-lettered with the last error as its reason;
 * - `deadLetter(reason)` settles a message into the dead-letter queue at once;
 * - messages survive a crash of the process (a lock that expires makes them visible again).
 */
import type { CloudEvent } from '../domain/events';

export interface ReceivedMessage {
  id: string;
  topic: string;
  subscription: string;
  body: unknown;
  deliveryCount: number;
  enqueuedAt: string;
}

export type Settlement = { kind: 'complete' } | { kind: 'dead-letter'; reason: string; description?: string };

export type MessageHandler = (message: ReceivedMessage) => Promise<Settlement>;

export interface DeadLetter {
  id: string;
  topic: string;
  subscription: string;
  body: unknown;
  reason: string;
  description: string | null;
  deliveryCount: number;
  deadLetteredAt: string;
}

export interface EventBus {
  publish(topic: string, events: CloudEvent[]): Promise<void>;
  /** Raw publish, for tests and for foreign producers whose bodies may be malformed. */
  publishRaw(topic: string, bodies: unknown[]): Promise<void>;
  subscribe(subscription: string, topic: string, handler: MessageHandler, options?: { concurrency?: number }): void;
  start(): void;
  stop(): Promise<void>;
  /** Resolves when no message is queued, scheduled or in flight on any subscription. */
  idle(): Promise<void>;
  deadLetters(): Promise<DeadLetter[]>;
}
