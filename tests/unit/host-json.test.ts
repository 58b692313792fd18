/**
 * host.json holds the Service Bus settings the handlers rely on: the invocation's result settles
 * the message (auto-complete: return = complete, throw = abandon, functions/register.ts), the lock
 * is renewed for longer than a rotation may wait for another worker's lease, and a function may
 * run at least that long.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { DEFAULT_ROTATION } from '../../shared/composition-common';
import { SERVICE_BUS_SUBSCRIPTION_SETTINGS } from '../../shared/adapters/azure/layout';

const host = JSON.parse(readFileSync(path.resolve(__dirname, '../../host.json'), 'utf8'));
const serviceBus = host.extensions.serviceBus;

/** `hh:mm:ss` → ms. */
const ms = (timespan: string): number => {
  const [h, m, s] = timespan.split(':').map(Number);
  return ((h * 60 + m) * 60 + s) * 1000;
};
/** ISO 8601 `PTnS` → ms. */
const isoSeconds = (duration: string): number => Number(/^PT(\d+)S$/.exec(duration)![1]) * 1000;

it('When host.json is read, then settlement follows the invocation (auto-complete on), without prefetch, with a concurrency set', () => {
  expect(serviceBus.autoCompleteMessages).toBe(true);
  expect(serviceBus.prefetchCount).toBe(0);
  expect(serviceBus.maxConcurrentCalls).toBeGreaterThanOrEqual(1);
});

it('When a rotation waits for another worker and then verifies, then the message lock is renewed for all of it, and the function may run as long', () => {
  const longestRotationWait = DEFAULT_ROTATION.maxLeaseWaitMs + DEFAULT_ROTATION.verifyTimeoutMs * 2; // wait, verify new, verify old on rollback
  expect(ms(serviceBus.maxAutoLockRenewalDuration)).toBeGreaterThanOrEqual(longestRotationWait);
  expect(ms(host.functionTimeout)).toBeGreaterThanOrEqual(ms(serviceBus.maxAutoLockRenewalDuration));
});

it('When a worker dies holding a rotation, then its lease runs out no later than the message lock, so the redelivery can take over', () => {
  expect(DEFAULT_ROTATION.leaseMs).toBeLessThanOrEqual(isoSeconds(SERVICE_BUS_SUBSCRIPTION_SETTINGS.lockDuration));
});
