/** Builders for ACME issuer tests against the Pebble lab. */
import * as acme from 'acme-client';
import type { InternalAxiosRequestConfig } from 'axios';
import { fixedClock } from '../../shared/domain/clock';
import { AcmeIssuer, type AcmeIssuerOptions } from '../../shared/adapters/acme/acme-issuer';
import type { PebbleHandle } from '../../shared/demo/pebble-lab';
import type { DnsSolver } from '../../shared/ports/dns-solver';
import type { HttpChallengeResponder } from '../../shared/ports/http-challenge-responder';
import type { CertificateRequest } from '../../shared/ports/issuer';
import { InMemoryKeyStore } from './in-memory-key-store';

/** Pebble validates in milliseconds with PEBBLE_VA_NOSLEEP; acme-client's 5 s default would dominate. */
export const FAST_POLL = { minMs: 50, maxMs: 500, attempts: 40 };

/** A DNS-01 issuer against the lab Pebble, with fast polling and retry waits cut to 50 ms. */
export function aDns01Issuer(pebble: PebbleHandle, dns: DnsSolver, overrides: Partial<AcmeIssuerOptions> = {}): AcmeIssuer {
  return new AcmeIssuer({
    directoryUrl: pebble.directoryUrl,
    keyStore: new InMemoryKeyStore(),
    clock: fixedClock('2031-01-01T00:00:00Z'),
    challenge: 'dns-01',
    dns,
    tlsCa: pebble.tlsCaPem,
    pollBackoff: FAST_POLL,
    sleep: (ms) => new Promise((r) => setTimeout(r, Math.min(ms, 50))),
    ...overrides,
  });
}

/** An HTTP-01 issuer against the lab Pebble, with the same fast settings. */
export function anHttp01Issuer(pebble: PebbleHandle, http: HttpChallengeResponder, overrides: Partial<AcmeIssuerOptions> = {}): AcmeIssuer {
  return aDns01Issuer(pebble, undefined as unknown as DnsSolver, { challenge: 'http-01', dns: undefined, http, ...overrides });
}

/** A request for `dnsNames` (the first names the certificate) of tenant contoso. */
export function aRequestFor(dnsNames: string[]): CertificateRequest {
  return { tenantId: 'contoso', certificateId: dnsNames[0], commonName: dnsNames[0], dnsNames, ipAddresses: [], keyType: 'ec-p256', validityDays: 90 };
}

/**
 * Every request acme-client sends ("METHOD url"), in order, to count orders at the CA (a POST to
 * Pebble's newOrder URL is one order). `onRequest` may act on a request (abort a "crash"). Start
 * Pebble with `PEBBLE_WFE_NONCEREJECT: '0'`: a resent badNonce request would count twice.
 */
export class AcmeRequestLog {
  requests: string[] = [];
  onRequest: (config: InternalAxiosRequestConfig) => void = () => undefined;
  readonly newOrderUrl: string;
  private readonly interceptor: number;

  constructor(pebble: PebbleHandle) {
    this.newOrderUrl = `${new URL(pebble.directoryUrl).origin}/order-plz`;
    this.interceptor = acme.axios.interceptors.request.use((config) => {
      this.requests.push(`${(config.method ?? 'get').toUpperCase()} ${config.url}`);
      this.onRequest(config);
      return config;
    });
  }

  /** Forgets what was recorded and the request hook (between tests). */
  reset(): void {
    this.requests = [];
    this.onRequest = () => undefined;
  }

  posts(prefix: string): string[] {
    return this.requests.filter((r) => r.startsWith(`POST ${prefix}`));
  }

  newOrders(): number {
    return this.requests.filter((r) => r === `POST ${this.newOrderUrl}`).length;
  }

  stop(): void {
    acme.axios.interceptors.request.eject(this.interceptor);
  }
}
