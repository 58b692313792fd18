/**
 * AzureDnsSolver: a DnsSolver over the Azure DNS ARM REST API, api-version 2018-05-01
 * (Record Sets: Get, Create Or Update, Delete), with node's HTTPS client and no SDK.
 *
 * Observes: the TXT record set at the challenge name in one Azure DNS zone.
 * Decides: the record set's new value list. A wildcard and its base name share one name
 * (`_acme-challenge.x`, RFC 8555 §8.4 with §7.1.3), so `present` adds its value to the set and
 * `cleanup` removes only its own value, deleting the set when it becomes empty. Read-modify-write
 * uses the record set's ETag (`If-Match`, or `If-None-Match: *` for a new set) so a concurrent
 * writer (another process) makes the write fail with 412 and it is retried from a fresh read;
 * writes to one name inside this process are also serialized.
 *
 * Wire facts (learn.microsoft.com/rest/api/dns/record-sets, and Azure's observed answers):
 * - PUT answers 200 (updated) or 201 (created) with the RecordSet; DELETE answers 200 or 204
 *   (204 also when the set does not exist).
 * - A missing record set in an existing zone: 404 `{"code":"NotFound",...}` (not wrapped in
 *   `error`); a missing zone: 404 `{"error":{"code":"ParentResourceNotFound",...}}` (GET may say
 *   `ResourceNotFound`). Both shapes are read.
 * - 401 InvalidAuthenticationToken, 403 AuthorizationFailed: the principal lacks the role.
 *
 * The bearer token comes from an injected `getToken` (wrap @azure/identity's TokenCredential in
 * production); it is never logged nor put in an error message.
 */
import https from 'node:https';
import { CertopsError, PermanentError, RetryableError, errorMessage } from '../../domain/errors';
import type { DnsChallengeRecord, DnsSolver } from '../../ports/dns-solver';

export const AZURE_DNS_API_VERSION = '2018-05-01';
/** Short TTL: resolvers must not cache a stale challenge value across a retried order. */
export const CHALLENGE_TXT_TTL_SECONDS = 60;
/** ARM answers in well under a second; 30 s leaves room for a throttled region. */
export const DEFAULT_AZURE_DNS_TIMEOUT_MS = 30_000;
/** 412 means another writer changed the set between our read and write: re-read a few times. */
const PRECONDITION_RETRIES = 3;

/** A fetch-shaped function; the default is node:https (global fetch cannot take a CA on Node 20 without undici). */
export type FetchLike = (url: string, init: { method: string; headers: Record<string, string>; body?: string; signal?: AbortSignal }) => Promise<Response>;

export interface AzureDnsSolverOptions {
  /** ARM endpoint; `https://management.azure.com` (public cloud) by default. */
  armBaseUrl?: string;
  subscriptionId: string;
  resourceGroup: string;
  /** The Azure DNS zone, e.g. `acme.msp.example` (no trailing dot). */
  zoneName: string;
  /** Returns an ARM bearer token (scope `https://management.azure.com/.default`). */
  getToken: () => Promise<string>;
  /** Overrides the HTTP client (tests). */
  fetchImpl?: FetchLike;
  /** Per-request timeout; default DEFAULT_AZURE_DNS_TIMEOUT_MS. */
  timeoutMs?: number;
  /** PEM of a CA to trust for armBaseUrl (tests against a local stub only). */
  tlsCa?: string;
}

interface TxtRecordSet {
  etag?: string;
  values: string[];
}

export class AzureDnsSolver implements DnsSolver {
  private readonly armBaseUrl: string;
  private readonly zone: string;
  private readonly fetchImpl: FetchLike;
  private readonly timeoutMs: number;
  /** Per record-set name: the tail of the chain of writes in flight in this process. */
  private readonly queues = new Map<string, Promise<unknown>>();

  constructor(private readonly options: AzureDnsSolverOptions) {
    this.armBaseUrl = (options.armBaseUrl ?? 'https://management.azure.com').replace(/\/+$/, '');
    this.zone = normalize(options.zoneName);
    if (this.zone === '') throw new PermanentError('AzureDnsSolver: zoneName is empty; configure the Azure DNS zone certops writes to');
    this.timeoutMs = options.timeoutMs ?? DEFAULT_AZURE_DNS_TIMEOUT_MS;
    this.fetchImpl = options.fetchImpl ?? httpsFetch(new https.Agent({ ca: options.tlsCa, keepAlive: true }));
  }

  /** Adds `value` to the TXT set at `fqdn` (idempotent); creates the set when absent. */
  async present(record: DnsChallengeRecord, options: { abortSignal?: AbortSignal } = {}): Promise<void> {
    const name = relativeRecordName(record.fqdn, this.zone);
    await this.serialized(name, () =>
      this.update(name, (values) => (values.includes(record.value) ? null : [...values, record.value]), options.abortSignal),
    );
  }

  /** Removes `value` from the TXT set at `fqdn`; deletes the set when no value is left; idempotent. */
  async cleanup(record: DnsChallengeRecord, options: { abortSignal?: AbortSignal } = {}): Promise<void> {
    const name = relativeRecordName(record.fqdn, this.zone);
    await this.serialized(name, () =>
      this.update(name, (values) => (values.includes(record.value) ? values.filter((v) => v !== record.value) : null), options.abortSignal),
    );
  }

  /** Read, change, write with the ETag; `change` returns null when nothing is to be written. */
  private async update(name: string, change: (values: string[]) => string[] | null, abortSignal?: AbortSignal): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const current = await this.get(name, abortSignal);
      const next = change(current?.values ?? []);
      if (next === null) return;
      const status = next.length === 0 ? await this.delete(name, current?.etag, abortSignal) : await this.put(name, next, current?.etag, abortSignal);
      if (status !== 412) return;
      if (attempt >= PRECONDITION_RETRIES) {
        throw new RetryableError(`Azure DNS record set ${name} in zone ${this.zone} kept changing under concurrent writers (412 Precondition Failed); it will be retried`);
      }
    }
  }

  private async get(name: string, abortSignal?: AbortSignal): Promise<TxtRecordSet | null> {
    const response = await this.call('GET', name, {}, undefined, abortSignal);
    if (response.status === 404) {
      const error = await armError(response);
      if (isZoneMissing(error.code)) throw this.zoneMissing(error);
      return null;
    }
    if (response.status !== 200) throw await this.failure('GET', name, response);
    const body = (await response.json()) as { etag?: string; properties?: { TXTRecords?: Array<{ value?: string[] }> } };
    const values = (body.properties?.TXTRecords ?? []).map((r) => (r.value ?? []).join(''));
    return { etag: body.etag, values };
  }

  private async put(name: string, values: string[], etag: string | undefined, abortSignal?: AbortSignal): Promise<number> {
    const body = { properties: { TTL: CHALLENGE_TXT_TTL_SECONDS, TXTRecords: values.map((value) => ({ value: [value] })) } };
    // If-None-Match: * creates only; If-Match: etag updates only what was read (optimistic concurrency).
    const conditions: Record<string, string> = etag ? { 'If-Match': etag } : { 'If-None-Match': '*' };
    const response = await this.call('PUT', name, conditions, JSON.stringify(body), abortSignal);
    if (response.status === 200 || response.status === 201 || response.status === 412) {
      await response.arrayBuffer();
      return response.status;
    }
    throw await this.failure('PUT', name, response);
  }

  private async delete(name: string, etag: string | undefined, abortSignal?: AbortSignal): Promise<number> {
    const response = await this.call('DELETE', name, etag ? { 'If-Match': etag } : {}, undefined, abortSignal);
    if (response.status === 200 || response.status === 204 || response.status === 412) {
      await response.arrayBuffer();
      return response.status;
    }
    if (response.status === 404) {
      const error = await armError(response);
      if (isZoneMissing(error.code)) throw this.zoneMissing(error);
      return 200; // already gone
    }
    throw await this.failure('DELETE', name, response);
  }

  private async call(method: string, name: string, headers: Record<string, string>, body: string | undefined, abortSignal?: AbortSignal): Promise<Response> {
    abortSignal?.throwIfAborted();
    const { subscriptionId, resourceGroup } = this.options;
    const url = `${this.armBaseUrl}/subscriptions/${encodeURIComponent(subscriptionId)}/resourceGroups/${encodeURIComponent(resourceGroup)}` +
      `/providers/Microsoft.Network/dnsZones/${encodeURIComponent(this.zone)}/TXT/${encodeURIComponent(name)}?api-version=${AZURE_DNS_API_VERSION}`;
    let token: string;
    try {
      token = await this.options.getToken();
    } catch (err) {
      if (err instanceof CertopsError) throw err;
      throw new RetryableError(`could not obtain an Azure token for DNS zone ${this.zone}: ${errorMessage(err)}; check the managed identity or service principal`, { cause: err });
    }
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const signal = abortSignal ? AbortSignal.any([abortSignal, timeout]) : timeout;
    try {
      return await this.fetchImpl(url, {
        method,
        headers: { ...headers, Authorization: `Bearer ${token}`, Accept: 'application/json', ...(body ? { 'Content-Type': 'application/json' } : {}) },
        body,
        signal,
      });
    } catch (err) {
      abortSignal?.throwIfAborted();
      const what = timeout.aborted ? `no answer within ${this.timeoutMs} ms` : errorMessage(err);
      throw new RetryableError(`Azure DNS ${method} ${name} in zone ${this.zone} failed: ${what}; it will be retried`, { cause: err });
    }
  }

  private async failure(method: string, name: string, response: Response): Promise<CertopsError> {
    const error = await armError(response);
    const said = `Azure DNS ${method} TXT ${name} in zone ${this.zone} answered ${response.status} ${error.code}: ${error.message}`;
    if (response.status === 401 || response.status === 403) {
      return new PermanentError(
        `${said}; grant the certops identity the role "DNS Zone Contributor" on zone ${this.zone} ` +
        `(resource group ${this.options.resourceGroup}), or check its token audience is ARM`,
      );
    }
    if (response.status === 429 || response.status >= 500) {
      const retryAfter = response.headers.get('retry-after');
      return new RetryableError(`${said}; it will be retried${retryAfter ? ` (Retry-After ${retryAfter} s)` : ''}`);
    }
    return new PermanentError(`${said}; fix the request or the solver configuration`);
  }

  private zoneMissing(error: { code: string; message: string }): PermanentError {
    return new PermanentError(
      `Azure DNS zone ${this.zone} not found in resource group ${this.options.resourceGroup} of subscription ${this.options.subscriptionId} ` +
      `(${error.code}: ${error.message}); create the zone or fix zoneName/resourceGroup/subscriptionId`,
    );
  }

  /** Chains `work` after the writes in flight to the same name (wildcard + base share one set). */
  private async serialized<T>(name: string, work: () => Promise<T>): Promise<T> {
    const previous = this.queues.get(name) ?? Promise.resolve();
    const run = previous.catch(() => undefined).then(work);
    this.queues.set(name, run);
    try {
      return await run;
    } finally {
      if (this.queues.get(name) === run) this.queues.delete(name);
    }
  }
}

/**
 * The record-set name relative to `zone` (`@` at the apex), as ARM expects it. Case-insensitive
 * (RFC 4343), trailing dots optional. Throws PermanentError for a name outside the zone.
 */
export function relativeRecordName(fqdn: string, zone: string): string {
  const name = normalize(fqdn);
  const apex = normalize(zone);
  if (name === apex) return '@';
  if (name.endsWith(`.${apex}`)) return name.slice(0, -(apex.length + 1));
  throw new PermanentError(`DNS-01 record ${fqdn} is not in Azure DNS zone ${apex}; delegate _acme-challenge by CNAME into that zone or configure a solver for the zone of ${fqdn}`);
}

function normalize(name: string): string {
  return name.trim().toLowerCase().replace(/\.+$/, '');
}

/** ARM error codes meaning the zone (the record set's parent) does not exist. */
function isZoneMissing(code: string): boolean {
  return code === 'ParentResourceNotFound' || code === 'ResourceNotFound' || code === 'ResourceGroupNotFound';
}

/** Reads ARM's error body: `{"error":{"code","message"}}`, or Azure DNS's bare `{"code","message"}`. */
async function armError(response: Response): Promise<{ code: string; message: string }> {
  const text = await response.text().catch(() => '');
  try {
    const body = JSON.parse(text) as { error?: { code?: string; message?: string }; code?: string; message?: string };
    const inner = body.error ?? body;
    return { code: inner.code ?? 'Unknown', message: inner.message ?? text.slice(0, 300) };
  } catch {
    return { code: 'Unknown', message: text.slice(0, 300) };
  }
}

/** fetch over node:https with `agent` (so a test CA can be trusted); returns a WHATWG Response. */
function httpsFetch(agent: https.Agent): FetchLike {
  return (url, init) =>
    new Promise<Response>((resolve, reject) => {
      const req = https.request(url, { method: init.method, headers: init.headers, agent, signal: init.signal }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          const headers = new Headers();
          for (const [key, value] of Object.entries(res.headers)) {
            if (value !== undefined) headers.set(key, Array.isArray(value) ? value.join(', ') : value);
          }
          // A Response cannot carry a body with 204/304.
          const body = status === 204 || status === 304 ? null : Buffer.concat(chunks);
          resolve(new Response(body, { status, headers }));
        });
      });
      req.on('error', reject);
      req.end(init.body);
    });
}
