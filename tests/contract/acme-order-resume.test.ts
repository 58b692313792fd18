/**
 * Order resumption against a real CA (Pebble): an issuance "crashes" (is aborted) after newOrder
 * or right after finalize; a new AcmeIssuer sharing only the order journal and the key store then
 * completes the same order, never sending a second newOrder, and returns the certificate with the
 * key the CSR was made from. Requests to Pebble are observed through acme-client's axios instance.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import type { DnsChallengeRecord, DnsSolver } from '../../shared/ports/dns-solver';
import type { AcmeOrderJournal, AcmeOrderJournalKey, JournaledAcmeOrder } from '../../shared/ports/acme-order-journal';
import { AcmeIssuer, orderKeyName, type AcmeIssuerOptions } from '../../shared/adapters/acme/acme-issuer';
import { ChalltestsrvDnsSolver } from '../../shared/adapters/acme/challtestsrv-dns-solver';
import { MemoryAcmeOrderJournal } from '../../shared/adapters/acme/memory-order-journal';
import { startPebble, type PebbleHandle } from '../../shared/demo/pebble-lab';
import { InMemoryKeyStore } from '../support/in-memory-key-store';
import { AcmeRequestLog, aDns01Issuer } from '../support/acme-builders';
import { aCertificateRequest } from '../support/issuer-builders';

jest.setTimeout(30_000);

let pebble: PebbleHandle;
/** Every request acme-client sends, in order (method and URL), for the test running now. */
let log: AcmeRequestLog;
let newOrderUrl: string;

beforeAll(async () => {
  // No badNonce rejections here (Pebble rejects 5% by default): acme-client resends a rejected
  // request, which would count as a second POST to newOrder without being a second order.
  pebble = await startPebble({ env: { PEBBLE_WFE_NONCEREJECT: '0' } });
  log = new AcmeRequestLog(pebble);
  newOrderUrl = log.newOrderUrl;
});

afterAll(async () => {
  log?.stop();
  await pebble?.stop();
});

beforeEach(() => log.reset());

/** The journal, recording every save so a test can see the order URL a crashed run left behind. */
class RecordingJournal implements AcmeOrderJournal {
  readonly saved: JournaledAcmeOrder[] = [];
  constructor(readonly inner = new MemoryAcmeOrderJournal()) {}
  get(key: AcmeOrderJournalKey) {
    return this.inner.get(key);
  }
  async save(entry: JournaledAcmeOrder) {
    this.saved.push(structuredClone(entry));
    await this.inner.save(entry);
  }
  clear(key: AcmeOrderJournalKey) {
    return this.inner.clear(key);
  }
}

/** Publishes through challtestsrv; optionally "crashes" the issuance at its first present. */
class CrashingDnsSolver implements DnsSolver {
  readonly presented: string[] = [];
  constructor(private readonly crash?: AbortController) {}
  private readonly inner = new ChalltestsrvDnsSolver(pebble.dns.managementUrl);
  async present(record: DnsChallengeRecord, options: { abortSignal?: AbortSignal } = {}): Promise<void> {
    this.presented.push(record.fqdn);
    if (this.crash) {
      this.crash.abort(new Error('simulated crash after newOrder'));
      options.abortSignal?.throwIfAborted();
    }
    await this.inner.present(record, options);
  }
  cleanup(record: DnsChallengeRecord): Promise<void> {
    return this.inner.cleanup(record);
  }
}

const aRequest = aCertificateRequest;

/** A process's issuer: what survives a crash is only the journal and the key store passed in. */
function anIssuer(shared: { journal: AcmeOrderJournal; keyStore: InMemoryKeyStore }, dns: DnsSolver, overrides: Partial<AcmeIssuerOptions> = {}): AcmeIssuer {
  return aDns01Issuer(pebble, dns, { keyStore: shared.keyStore, journal: shared.journal, ...overrides });
}

const posts = (prefix: string) => log.posts(prefix);
const finalizeUrlOf = (orderUrl: string) => orderUrl.replace('/my-order/', '/finalize-order/');

function expectKeyMatches(issued: { certificatePem: string; privateKeyPem: string }): void {
  expect(new X509Certificate(issued.certificatePem).checkPrivateKey(createPrivateKey(issued.privateKeyPem))).toBe(true);
}

it('When issuance crashes after newOrder, then a new issuer continues the same order without a second newOrder', async () => {
  const shared = { journal: new RecordingJournal(), keyStore: new InMemoryKeyStore() };
  const crash = new AbortController();
  const crashed = await anIssuer(shared, new CrashingDnsSolver(crash)).issue(aRequest(), { abortSignal: crash.signal }).catch((e: unknown) => e);
  expect((crashed as Error).message).toBe('simulated crash after newOrder');
  expect(posts(newOrderUrl)).toHaveLength(1);
  const orderUrl = shared.journal.saved[0].orderUrl;
  expect((await shared.journal.get(aRequest()))?.orderUrl).toBe(orderUrl);
  log.requests = [];

  const dns = new CrashingDnsSolver();
  const issued = await anIssuer(shared, dns).issue(aRequest());

  expect(posts(newOrderUrl)).toEqual([]);
  expect(posts(orderUrl)).not.toEqual([]);
  expect(posts(finalizeUrlOf(orderUrl))).toHaveLength(1);
  expect(dns.presented).toEqual(['_acme-challenge.www.contoso.test']);
  expectKeyMatches(issued);
  expect(await shared.journal.get(aRequest())).toBeNull();
  expect(shared.keyStore.values.has(`contoso/${orderKeyName('web')}`)).toBe(false); // the CSR key is deleted once used
});

it('When issuance crashes right after finalize, then a new issuer downloads that order’s certificate with the journaled CSR key', async () => {
  const shared = { journal: new RecordingJournal(), keyStore: new InMemoryKeyStore() };
  const crash = new AbortController();
  log.onRequest = (config) => {
    // The finalize request is on the wire: the "process" dies before it sees the answer.
    if (config.url?.includes('/finalize-order/')) crash.abort(new Error('simulated crash after finalize'));
  };
  const crashed = await anIssuer(shared, new CrashingDnsSolver()).issue(aRequest(), { abortSignal: crash.signal }).catch((e: unknown) => e);
  log.onRequest = () => undefined;
  expect((crashed as Error).message).toBe('simulated crash after finalize');
  const journaled = (await shared.journal.get(aRequest()))!;
  expect(journaled.csrKeyName).toBe(orderKeyName('web'));
  const csrKeyPem = shared.keyStore.values.get(`contoso/${orderKeyName('web')}`);
  expect(csrKeyPem).toMatch(/PRIVATE KEY/);
  log.requests = [];

  const dns = new CrashingDnsSolver();
  const issued = await anIssuer(shared, dns).issue(aRequest());

  expect(posts(newOrderUrl)).toEqual([]);
  expect(posts(finalizeUrlOf(journaled.orderUrl))).toEqual([]);
  expect(posts(journaled.orderUrl)).not.toEqual([]);
  expect(dns.presented).toEqual([]);
  expect(issued.privateKeyPem).toBe(csrKeyPem);
  expectKeyMatches(issued);
  expect(await shared.journal.get(aRequest())).toBeNull();
  expect(shared.keyStore.values.has(`contoso/${orderKeyName('web')}`)).toBe(false); // the CSR key is deleted once used
});

it.each([
  { name: 'the CA no longer has the journaled order (404)', entry: (): Partial<JournaledAcmeOrder> => ({ orderUrl: `${new URL(pebble.directoryUrl).origin}/my-order/no-such-order` }) },
  { name: 'the journaled order was for other names', entry: (): Partial<JournaledAcmeOrder> => ({ dnsNames: ['old.contoso.test'] }) },
])('When $name, then the entry is dropped and one new order is placed', async ({ entry }) => {
  const shared = { journal: new RecordingJournal(), keyStore: new InMemoryKeyStore() };
  const stale: JournaledAcmeOrder = {
    tenantId: 'contoso', certificateId: 'web', directoryUrl: pebble.directoryUrl, orderUrl: `${new URL(pebble.directoryUrl).origin}/my-order/no-such-order`,
    dnsNames: ['www.contoso.test'], keyType: 'ec-p256', createdAt: '2031-01-01T00:00:00.000Z', ...entry(),
  };
  await shared.journal.inner.save(stale);

  const issued = await anIssuer(shared, new CrashingDnsSolver()).issue(aRequest());

  expect(posts(newOrderUrl)).toHaveLength(1);
  expect(shared.journal.saved[0].orderUrl).not.toBe(stale.orderUrl);
  expectKeyMatches(issued);
  expect(await shared.journal.get(aRequest())).toBeNull();
});

it('When validation fails permanently, then the journaled order is cleared so the next issuance orders anew', async () => {
  const shared = { journal: new RecordingJournal(), keyStore: new InMemoryKeyStore() };
  const wrongTxt: DnsSolver = {
    present: (record) => new ChalltestsrvDnsSolver(pebble.dns.managementUrl).present({ ...record, value: 'wrong' }),
    cleanup: (record) => new ChalltestsrvDnsSolver(pebble.dns.managementUrl).cleanup(record),
  };

  await expect(anIssuer(shared, wrongTxt).issue(aRequest({ certificateId: 'bad' }))).rejects.toThrow(/refused by the CA/);

  expect(shared.journal.saved).toHaveLength(1);
  expect(await shared.journal.get(aRequest({ certificateId: 'bad' }))).toBeNull();
});
