/**
 * ACME Renewal Information (RFC 9773) through AcmeIssuer, against Pebble behind tests/support/
 * acme-front.ts: Debian's Pebble 2.4 has no ARI, so the front stands in for the renewalInfo
 * endpoint and for a CA's answers to `replaces` and to too many orders. Certificates are Pebble's.
 */
import { fixedClock } from '../../shared/domain/clock';
import { ariCertId, renewalMoment } from '../../shared/domain/ari';
import { parsePemBundle } from '../../shared/domain/certificate';
import type { CertificateRequest, IssuedCertificate } from '../../shared/ports/issuer';
import { AcmeIssuer } from '../../shared/adapters/acme/acme-issuer';
import { MemoryHttpResponder } from '../../shared/adapters/acme/memory-http-responder';
import { startPebble, type PebbleHandle } from '../../shared/demo/pebble-lab';
import { InMemoryKeyStore } from '../support/in-memory-key-store';
import { RENEWAL_INFO_RETRY_AFTER_S, startAcmeFront, type AcmeFront } from '../support/acme-front';

jest.setTimeout(30_000);

const NOW = new Date('2031-01-01T00:00:00Z');
const HOUR_MS = 3_600_000;

let pebble: PebbleHandle;
let responder: MemoryHttpResponder;
let front: AcmeFront;
let withoutAri: AcmeFront;
/** Issued once through the front: the certificate the renewals replace. */
let current: IssuedCertificate;
let currentCertId: string;

beforeAll(async () => {
  // Pebble rejects 5% of nonces by default; acme-client retries them, but each retry is another
  // newOrder the front records, and these tests count newOrders (the nonce storm is proven elsewhere).
  pebble = await startPebble({ env: { PEBBLE_WFE_NONCEREJECT: '0' } });
  responder = new MemoryHttpResponder({ port: pebble.httpChallengePort });
  await responder.listen();
  await pebble.dns.addA('www.contoso.test');
  front = await startAcmeFront(pebble);
  withoutAri = await startAcmeFront(pebble, { ari: false });
  current = await anIssuer().issue(aRequest());
  currentCertId = ariCertId(parsePemBundle(current.certificatePem)[0].der);
});

afterAll(async () => {
  await front?.close();
  await withoutAri?.close();
  await responder?.close();
  await pebble?.stop();
});

beforeEach(() => {
  front.refuseReplaces(null);
  front.newOrders.length = 0;
});

function aRequest(): CertificateRequest {
  return { tenantId: 'contoso', certificateId: 'web', commonName: 'www.contoso.test', dnsNames: ['www.contoso.test'], ipAddresses: [], keyType: 'ec-p256', validityDays: 90 };
}

interface Recorded {
  warnings: Array<{ obj: object; msg: string }>;
  sleeps: number[];
}

function anIssuer(via: AcmeFront = front, recorded: Recorded = { warnings: [], sleeps: [] }): AcmeIssuer {
  return new AcmeIssuer({
    directoryUrl: via.directoryUrl,
    keyStore: new InMemoryKeyStore(),
    clock: fixedClock(NOW.toISOString()),
    challenge: 'http-01',
    http: responder,
    tlsCa: via.tlsCaPem,
    pollBackoff: { minMs: 50, maxMs: 500, attempts: 40 },
    logger: { info: () => undefined, warn: (obj, msg) => recorded.warnings.push({ obj, msg }) },
    sleep: async (ms) => {
      recorded.sleeps.push(ms);
      await new Promise((resolve) => setTimeout(resolve, ms));
    },
  });
}

describe('renewalInfo (RFC 9773 §4)', () => {
  it('When an issued certificate is looked up, then the CA is asked at its RFC 9773 CertID and its window and Retry-After are returned', async () => {
    const requestsBefore = front.renewalInfoRequests.length;
    const info = await anIssuer().renewalInfo(current.certificatePem);

    expect(front.renewalInfoRequests.slice(requestsBefore)).toEqual([`/renewal-info/${currentCertId}`]);
    // The front's default (as later Pebble versions): 2/3 of the lifetime, ±24 h.
    const notBefore = Date.parse(current.notBefore);
    const notAfter = Date.parse(current.notAfter);
    const twoThirds = notBefore + ((notAfter - notBefore) * 2) / 3;
    expect(Math.abs(info!.window.start.getTime() - (twoThirds - 24 * HOUR_MS))).toBeLessThan(2_000);
    expect(Math.abs(info!.window.end.getTime() - (twoThirds + 24 * HOUR_MS))).toBeLessThan(2_000);
    expect(info!.retryAfterMs).toBe(RENEWAL_INFO_RETRY_AFTER_S * 1000);
    expect(info!.explanationUrl).toBeNull();
  });

  it.each([
    ['at the first instant', 0],
    ['in the middle', 0.5],
    ['at the last instant', 0.999999],
  ])('When the CA suggests a future window and chance falls %s, then renewal is planned inside that window', async (_case, random) => {
    const window = { start: new Date(NOW.getTime() + 10 * 24 * HOUR_MS), end: new Date(NOW.getTime() + 12 * 24 * HOUR_MS) };
    front.setWindow(currentCertId, window);
    const info = await anIssuer().renewalInfo(current.certificatePem);

    expect(info!.window).toEqual(window);
    const moment = renewalMoment(info!.window, NOW, () => random);
    expect(moment.reason).toBe('InWindow');
    expect(moment.at.getTime()).toBeGreaterThanOrEqual(window.start.getTime());
    expect(moment.at.getTime()).toBeLessThan(window.end.getTime());
  });

  it('When the CA moves the window into the past, then renewal is now (WindowPassed)', async () => {
    front.setWindow(currentCertId, { start: new Date(NOW.getTime() - 2 * 24 * HOUR_MS), end: new Date(NOW.getTime() - HOUR_MS) });
    const info = await anIssuer().renewalInfo(current.certificatePem);

    expect(renewalMoment(info!.window, NOW, () => 0.5)).toEqual({ at: NOW, reason: 'WindowPassed' });
  });

  it('When the directory has no renewalInfo, then there is no renewal information (null), not an error', async () => {
    const requestsBefore = withoutAri.renewalInfoRequests.length;
    await expect(anIssuer(withoutAri).renewalInfo(current.certificatePem)).resolves.toBeNull();
    expect(withoutAri.renewalInfoRequests.length).toBe(requestsBefore);
  });
});

describe('renewal orders (RFC 9773 §5, RFC 8555 §6.6)', () => {
  it('When a certificate is renewed with replaces, then the newOrder names the old certificate by its CertID', async () => {
    const renewed = await anIssuer().issue(aRequest(), { replaces: currentCertId });

    expect(front.newOrders).toEqual([{ replaces: currentCertId, answeredStatus: 201 }]);
    expect(renewed.fingerprintSha256).not.toBe(current.fingerprintSha256);
  });

  it.each([
    ['malformed', 400],
    ['alreadyReplaced', 409],
  ] as const)('When the CA refuses replaces with %s (%d), then the issuer orders once more without it, says why, and gets the certificate', async (type, status) => {
    front.refuseReplaces({ type, status });
    const recorded: Recorded = { warnings: [], sleeps: [] };

    const renewed = await anIssuer(front, recorded).issue(aRequest(), { replaces: currentCertId });

    expect(front.newOrders).toEqual([
      { replaces: currentCertId, answeredStatus: status },
      { replaces: undefined, answeredStatus: 201 },
    ]);
    expect(recorded.warnings).toEqual([expect.objectContaining({ obj: expect.objectContaining({ replaces: currentCertId, problem: `urn:ietf:params:acme:error:${type}`, status }) })]);
    expect(recorded.sleeps).toEqual([]);
    expect(parsePemBundle(renewed.certificatePem)[0].dnsNames).toEqual(['www.contoso.test']);
  });

  it('When newOrder is answered 429 rateLimited with Retry-After 1, then the issuer waits about a second and then gets the certificate', async () => {
    front.rateLimitNextOrder();
    const recorded: Recorded = { warnings: [], sleeps: [] };
    const started = performance.now();

    await anIssuer(front, recorded).issue(aRequest(), { replaces: currentCertId });

    expect(recorded.sleeps).toEqual([1_000]);
    expect(performance.now() - started).toBeGreaterThanOrEqual(1_000);
    // The rate limit is about the account, not the field: the retry still names the old certificate.
    expect(front.newOrders).toEqual([
      { replaces: currentCertId, answeredStatus: 429 },
      { replaces: currentCertId, answeredStatus: 201 },
    ]);
  });
});
