/**
 * AcmeIssuer's idempotent issuance against a real CA (Debian Pebble), with the embedded order
 * journal and key store (one SQLite file): under an idempotency key (the rotation id) the valid
 * order and its CSR key are kept after download, so a repeated or restarted issuance gets the
 * same certificate from the same order without ordering again, until `release`. Orders are
 * counted by watching acme-client's requests to Pebble's newOrder URL.
 */
import { randomBytes, X509Certificate, createPrivateKey } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { orderKeyName, type AcmeIssuer } from '../../shared/adapters/acme/acme-issuer';
import { ChalltestsrvDnsSolver } from '../../shared/adapters/acme/challtestsrv-dns-solver';
import { closeDatabase, openDatabase, type Database } from '../../shared/adapters/local/sqlite-database';
import { SqliteKeyStore } from '../../shared/adapters/local/sqlite-key-store';
import { SqliteAcmeOrderJournal } from '../../shared/adapters/local/sqlite-order-journal';
import { startPebble, type PebbleHandle } from '../../shared/demo/pebble-lab';
import type { DnsChallengeRecord, DnsSolver } from '../../shared/ports/dns-solver';
import type { CertificateRequest, IssuedCertificate } from '../../shared/ports/issuer';
import { AcmeRequestLog, aDns01Issuer } from '../support/acme-builders';

jest.setTimeout(30_000);

const K = 'sweep-1:web';
const OTHER_K = 'sweep-2:web';

let pebble: PebbleHandle;
let log: AcmeRequestLog;

beforeAll(async () => {
  // No badNonce rejections: a resent newOrder would look like a second order in the count.
  pebble = await startPebble({ env: { PEBBLE_WFE_NONCEREJECT: '0' } });
  log = new AcmeRequestLog(pebble);
});
afterAll(async () => {
  log?.stop();
  await pebble?.stop();
});

let dir: string;
let kek: Buffer;
const dbs: Database[] = [];
let testNumber = 0;
let request: CertificateRequest;

beforeEach(() => {
  log.reset();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certops-acme-idem-'));
  kek = randomBytes(32);
  // A name per test: Pebble's authorization reuse and challtestsrv's TXT records stay apart.
  const name = `www${++testNumber}.contoso.test`;
  request = { tenantId: 'contoso', certificateId: 'web', commonName: name, dnsNames: [name], ipAddresses: [], keyType: 'ec-p256', validityDays: 90 };
});
afterEach(() => {
  for (const db of dbs.splice(0)) closeDatabase(db);
  fs.rmSync(dir, { recursive: true, force: true });
});

/** One process: its own connection to the shared SQLite file, its own AcmeIssuer (nothing in memory survives). */
function aProcess(): { issuer: AcmeIssuer; journal: SqliteAcmeOrderJournal; keyStore: SqliteKeyStore } {
  const db = openDatabase(path.join(dir, 'certops.db'));
  dbs.push(db);
  const journal = new SqliteAcmeOrderJournal(db);
  const keyStore = new SqliteKeyStore(db, kek);
  return { issuer: aDns01Issuer(pebble, new ChalltestsrvDnsSolver(pebble.dns.managementUrl), { keyStore, journal }), journal, keyStore };
}

/** Aborts the issuance at its first challenge: the "process" dies after newOrder, the order pending. */
class CrashAtPresent implements DnsSolver {
  constructor(private readonly crash: AbortController) {}
  async present(_record: DnsChallengeRecord, options: { abortSignal?: AbortSignal } = {}): Promise<void> {
    this.crash.abort(new Error('simulated crash after newOrder'));
    options.abortSignal?.throwIfAborted();
  }
  async cleanup(): Promise<void> {}
}

const newOrders = () => log.newOrders();

function expectKeyMatches(issued: IssuedCertificate): void {
  expect(new X509Certificate(issued.certificatePem).checkPrivateKey(createPrivateKey(issued.privateKeyPem))).toBe(true);
}

describe('AcmeIssuer with an idempotency key and a journal (Pebble)', () => {
  it('When the same key is used twice, then the same certificate comes back from the same order, ordered once', async () => {
    const { issuer, journal } = aProcess();
    const first = await issuer.issue(request, { idempotencyKey: K });
    const entry = await journal.get(request);
    expect(entry).toMatchObject({ idempotencyKey: K, csrKeyName: orderKeyName('web') });

    const second = await issuer.issue(request, { idempotencyKey: K });

    expect(newOrders()).toBe(1);
    expect(second.fingerprintSha256).toBe(first.fingerprintSha256);
    expect(second.certificatePem).toBe(first.certificatePem);
    expect(second.privateKeyPem).toBe(first.privateKeyPem);
    expectKeyMatches(second);
    expect((await journal.get(request))?.orderUrl).toBe(entry!.orderUrl);
  });

  it('When a new issuer (a restarted process) uses the same journal and key, then it gets the same certificate without a new order', async () => {
    const before = await aProcess().issuer.issue(request, { idempotencyKey: K });
    const orderUrl = (await aProcess().journal.get(request))!.orderUrl;
    closeDatabase(dbs[0]);
    log.reset();

    const restarted = aProcess();
    const after = await restarted.issuer.issue(request, { idempotencyKey: K });

    expect(newOrders()).toBe(0);
    expect(log.requests.some((r) => r === `POST ${orderUrl}`)).toBe(true); // it looked the kept order up
    expect(after.fingerprintSha256).toBe(before.fingerprintSha256);
    expect(after.privateKeyPem).toBe(before.privateKeyPem);
    expectKeyMatches(after);
  });

  it('When the key is released, then the journal entry and the CSR key are gone', async () => {
    const { issuer, journal, keyStore } = aProcess();
    await issuer.issue(request, { idempotencyKey: K });
    expect(await keyStore.get('contoso', orderKeyName('web'))).toMatch(/PRIVATE KEY/);

    await issuer.release('contoso', 'web', K);

    expect(await journal.get(request)).toBeNull();
    expect(await keyStore.get('contoso', orderKeyName('web'))).toBeNull();
    await expect(issuer.release('contoso', 'web', K)).resolves.toBeUndefined(); // idempotent
  });

  it('When release names another key, then the kept order stays and still answers the first key', async () => {
    const { issuer, journal, keyStore } = aProcess();
    const first = await issuer.issue(request, { idempotencyKey: K });
    await issuer.release('contoso', 'web', OTHER_K);

    expect((await journal.get(request))?.idempotencyKey).toBe(K);
    expect(await keyStore.get('contoso', orderKeyName('web'))).not.toBeNull();
    expect((await issuer.issue(request, { idempotencyKey: K })).fingerprintSha256).toBe(first.fingerprintSha256);
    expect(newOrders()).toBe(1);
  });

  it('When the key is released, then issuing under it again places a new order and gets a new certificate', async () => {
    const { issuer } = aProcess();
    const first = await issuer.issue(request, { idempotencyKey: K });
    await issuer.release('contoso', 'web', K);

    const again = await issuer.issue(request, { idempotencyKey: K });

    expect(newOrders()).toBe(2);
    expect(again.fingerprintSha256).not.toBe(first.fingerprintSha256);
    expect(again.privateKeyPem).not.toBe(first.privateKeyPem);
    expectKeyMatches(again);
  });

  it('When no key is given, then each issuance orders anew and the journal and CSR key are cleared after success', async () => {
    const { issuer, journal, keyStore } = aProcess();
    const a = await issuer.issue(request);
    expect(await journal.get(request)).toBeNull();
    expect(await keyStore.get('contoso', orderKeyName('web'))).toBeNull();

    const b = await issuer.issue(request);

    expect(newOrders()).toBe(2);
    expect(b.fingerprintSha256).not.toBe(a.fingerprintSha256);
    expect(await journal.get(request)).toBeNull();
  });

  // A rotation that never released its key (abandoned, escalated before deploy) must not hand its
  // certificate to the NEXT rotation: the local CA issues anew for another key, and the port says
  // the kept certificate answers only "the same key".
  it('When a certificate is kept under one key and another key asks, then a new certificate is ordered and kept under the new key', async () => {
    const { issuer, journal } = aProcess();
    const first = await issuer.issue(request, { idempotencyKey: K });

    const other = await issuer.issue(request, { idempotencyKey: OTHER_K });

    expect(other.fingerprintSha256).not.toBe(first.fingerprintSha256);
    expect(newOrders()).toBe(2);
    expect((await journal.get(request))?.idempotencyKey).toBe(OTHER_K);
  });

  it('When a stale kept order exists and the next rotation issues and releases, then the rotation after it still gets a new certificate', async () => {
    const { issuer } = aProcess();
    const stale = await issuer.issue(request, { idempotencyKey: K }); // never released
    const next = await issuer.issue(request, { idempotencyKey: OTHER_K });
    await issuer.release('contoso', 'web', OTHER_K);

    const third = await issuer.issue(request, { idempotencyKey: 'sweep-3:web' });

    expect(new Set([stale, next, third].map((c) => c.fingerprintSha256)).size).toBe(3);
  });

  it('When a certificate is kept under a key and a call comes without one, then a new certificate is ordered (the port: every such call is new)', async () => {
    const { issuer } = aProcess();
    const kept = await issuer.issue(request, { idempotencyKey: K });

    const fresh = await issuer.issue(request);

    expect(fresh.fingerprintSha256).not.toBe(kept.fingerprintSha256);
    expect(newOrders()).toBe(2);
  });

  it('When a rotation continues an order another rotation left pending, then releasing it clears the journal', async () => {
    const { journal, keyStore } = aProcess();
    const crash = new AbortController();
    const dead = aDns01Issuer(pebble, new CrashAtPresent(crash), { keyStore, journal });
    await expect(dead.issue(request, { idempotencyKey: K, abortSignal: crash.signal })).rejects.toThrow('simulated crash after newOrder');
    expect((await journal.get(request))?.idempotencyKey).toBe(K);

    const { issuer } = aProcess();
    await issuer.issue(request, { idempotencyKey: OTHER_K });
    await issuer.release('contoso', 'web', OTHER_K);

    expect(await journal.get(request)).toBeNull();
    expect(await keyStore.get('contoso', orderKeyName('web'))).toBeNull();
  });
});
