/**
 * ChalltestsrvDnsSolver: a DnsSolver over pebble-challtestsrv's management API (`/set-txt`,
 * `/clear-txt`). It is a real DNS server answering the CA's TXT queries, so it stands in for a
 * DNS provider in tests; production providers (Azure DNS, RFC 2136) implement the same port.
 *
 * Limitation: challtestsrv keeps a list of TXT values per name and `/clear-txt` removes them all,
 * so `cleanup` removes every value at `fqdn`, not only `value` (one order at a time per name).
 */
import { PermanentError, RetryableError, errorMessage } from '../../domain/errors';
import type { DnsChallengeRecord, DnsSolver } from '../../ports/dns-solver';

export class ChalltestsrvDnsSolver implements DnsSolver {
  /** @param managementUrl e.g. `http://127.0.0.1:8055` */
  constructor(private readonly managementUrl: string) {}

  async present(record: DnsChallengeRecord, options: { abortSignal?: AbortSignal } = {}): Promise<void> {
    await this.post('/set-txt', { host: fqdn(record.fqdn), value: record.value }, options.abortSignal);
  }

  async cleanup(record: DnsChallengeRecord, options: { abortSignal?: AbortSignal } = {}): Promise<void> {
    await this.post('/clear-txt', { host: fqdn(record.fqdn) }, options.abortSignal);
  }

  private async post(path: string, body: object, abortSignal?: AbortSignal): Promise<void> {
    abortSignal?.throwIfAborted();
    let response: Response;
    try {
      response = await fetch(`${this.managementUrl}${path}`, { method: 'POST', body: JSON.stringify(body), signal: abortSignal });
    } catch (err) {
      abortSignal?.throwIfAborted();
      throw new RetryableError(`challtestsrv ${path} unreachable at ${this.managementUrl}: ${errorMessage(err)}; check that pebble-challtestsrv runs`, { cause: err });
    }
    if (response.ok) return;
    const text = await response.text();
    const message = `challtestsrv ${path} answered ${response.status}: ${text}`;
    throw response.status >= 500 ? new RetryableError(message) : new PermanentError(`${message}; fix the request`);
  }
}

/** challtestsrv stores names fully qualified, with the trailing dot. */
function fqdn(name: string): string {
  return name.endsWith('.') ? name : `${name}.`;
}
