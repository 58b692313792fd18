/**
 * The HTTP side of AcmeIssuer, scoped to the directory origins of AcmeIssuers: acme-client's
 * shared axios instance retries 429/5xx itself (5 s steps, blocking for any Retry-After) and
 * loses the problem type of errors. For registered origins these interceptors turn that off and
 * raise AcmeProblemError instead, so the issuer's schedule decides and the taxonomy sees the
 * RFC 8555 §6.7 problem type. This leans on acme-client internals (its `retryAttempt` counter and
 * shared instance): re-check it when acme-client changes.
 */
import https from 'node:https';
import * as acme from 'acme-client';
import axios, { type AxiosResponse, type InternalAxiosRequestConfig } from 'axios';
import { errorMessage } from '../../domain/errors';

export const ACME_ERROR_PREFIX = 'urn:ietf:params:acme:error:';

/** A problem document from the CA (RFC 7807 / RFC 8555 §6.7), or a transport failure. */
export class AcmeProblemError extends Error {
  constructor(
    readonly type: string,
    readonly detail: string,
    readonly status: number,
    readonly retryAfterMs?: number,
  ) {
    super(`${detail} (${type})`);
    this.name = 'AcmeProblemError';
  }
  /** The short type, e.g. `rateLimited`, or `network` for a transport failure. */
  get shortType(): string {
    return this.type.startsWith(ACME_ERROR_PREFIX) ? this.type.slice(ACME_ERROR_PREFIX.length) : this.type;
  }
}

const origins = new Map<string, https.Agent | undefined>();
let interceptorsInstalled = false;
interface ScopedConfig extends InternalAxiosRequestConfig {
  certopsAcme?: boolean;
  retryAttempt?: number;
}

/** Routes the origin's requests through the interceptors (and trusts `tlsCa` for it, tests only). */
export function registerOrigin(origin: string, tlsCa: string | undefined): void {
  if (!origins.has(origin) || tlsCa) origins.set(origin, tlsCa ? new https.Agent({ ca: tlsCa, keepAlive: true }) : undefined);
  if (interceptorsInstalled) return;
  interceptorsInstalled = true;
  const defaultAdapter = axios.getAdapter('http');
  acme.axios.interceptors.request.use((config: ScopedConfig) => {
    const origin = config.url ? safeOrigin(config.url) : undefined;
    if (!origin || !origins.has(origin)) return config;
    config.certopsAcme = true;
    const agent = origins.get(origin);
    if (agent) config.httpsAgent = agent;
    // Disables acme-client's own 429/5xx sleeping (it counts attempts in this field).
    config.retryAttempt = Number.MAX_SAFE_INTEGER - 1;
    // A network failure becomes a status-0 response: acme-client's retry handler cannot cope with
    // an error without a response once its retries are off; ours below turns it into a problem.
    config.adapter = async (c) => {
      try {
        return await defaultAdapter(c);
      } catch (err) {
        // The adapter itself rejects every response (acme-client sets validateStatus to false):
        // hand those back as they are; only failures without a response are network failures.
        const response = (err as { response?: AxiosResponse }).response;
        if (response) throw err;
        return { status: 0, statusText: 'network', headers: {}, config: c, data: { type: 'network', detail: errorMessage(err) } };
      }
    };
    return config;
  });
  acme.axios.interceptors.response.use((response: AxiosResponse) => {
    const config = response.config as ScopedConfig;
    if (!config.certopsAcme) return response;
    const data = response.data as { type?: unknown; detail?: unknown } | undefined;
    if (response.status === 0) throw new AcmeProblemError('network', String(data?.detail ?? 'network failure'), 0);
    const type = typeof data?.type === 'string' ? data.type : undefined;
    if (response.status >= 400 && type !== `${ACME_ERROR_PREFIX}badNonce`) {
      throw new AcmeProblemError(type ?? `http-${response.status}`, String(data?.detail ?? response.statusText), response.status, retryAfterMs(response.headers['retry-after']));
    }
    return response;
  });
}

function safeOrigin(url: string): string | undefined {
  try {
    return new URL(url).origin;
  } catch {
    return undefined;
  }
}

/** RFC 9110 §10.2.3: Retry-After is delay-seconds or an HTTP-date; undefined when absent or unreadable. */
export function retryAfterMs(header: unknown, now: Date = new Date()): number | undefined {
  if (typeof header !== 'string' || header.trim() === '') return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now.getTime());
}
