/**
 * The redelivery backoff every transport applies before a failed message is delivered again
 * (the embedded bus, the Service Bus adapter, the Functions triggers): full jitter over a
 * doubling ceiling, capped ("exponential backoff and jitter", as the AWS architecture blog and
 * Service Bus guidance describe), so that a throttled CA or a busy lease does not burn every
 * delivery within milliseconds, and retries of many messages spread out.
 */

/**
 * First retry waits up to 200 ms: long enough for a transient conflict (a busy file, a 409 from a
 * vault) to clear, short enough that the embedded demo does not look stuck.
 */
export const DEFAULT_RETRY_BASE_DELAY_MS = 200;
/**
 * Never more than 10 s between attempts: with the default 5 deliveries a failing message reaches
 * the dead-letter queue within about 20 s, where a human can see it.
 */
export const DEFAULT_RETRY_MAX_DELAY_MS = 10_000;

/** The wait before delivery `deliveryCount + 1`: uniform in [0, min(cap, base·2^(n−1))). */
export function retryDelayMs(deliveryCount: number, baseMs: number = DEFAULT_RETRY_BASE_DELAY_MS, capMs: number = DEFAULT_RETRY_MAX_DELAY_MS, random = Math.random): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.max(0, deliveryCount - 1));
  return Math.floor(random() * ceiling);
}
