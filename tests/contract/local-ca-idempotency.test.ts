/**
 * LocalCaIssuer's idempotent issuance (IssueOptions.idempotencyKey, the rotation id) over the real
 * embedded KeyStore: a rotation resumed in `planned` gets back the certificate and key it was
 * issued before the crash, kept encrypted at rest until the rotation releases it.
 */
import { randomBytes, X509Certificate, createPrivateKey } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LocalCaIssuer, issuedUnderKeyName } from '../../shared/adapters/local/local-ca-issuer';
import { closeDatabase, openDatabase, type Database } from '../../shared/adapters/local/sqlite-database';
import { SqliteKeyStore } from '../../shared/adapters/local/sqlite-key-store';
import { fixedClock } from '../../shared/domain/clock';
import type { IssuedCertificate } from '../../shared/ports/issuer';
import { aCertificateRequest } from '../support/issuer-builders';

const NOW = '2031-03-04T05:06:07.890Z';
const ROTATION = 'sweep-1:web';
const OTHER_ROTATION = 'sweep-2:web';

let dir: string;
let dbPath: string;
let kek: Buffer;
const dbs: Database[] = [];

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certops-ca-idem-'));
  dbPath = path.join(dir, 'certops.db');
  kek = randomBytes(32);
});
afterEach(() => {
  for (const db of dbs.splice(0)) closeDatabase(db);
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A process's issuer: its own connection to the shared database file, as after a restart. */
function aProcess(): { issuer: LocalCaIssuer; keyStore: SqliteKeyStore; db: Database } {
  const db = openDatabase(dbPath);
  dbs.push(db);
  const keyStore = new SqliteKeyStore(db, kek);
  return { issuer: new LocalCaIssuer({ keyStore, clock: fixedClock(NOW) }), keyStore, db };
}

const aRequest = aCertificateRequest;

function serialOf(issued: IssuedCertificate): string {
  return new X509Certificate(issued.certificatePem).serialNumber;
}

function expectKeyMatches(issued: IssuedCertificate): void {
  expect(new X509Certificate(issued.certificatePem).checkPrivateKey(createPrivateKey(issued.privateKeyPem))).toBe(true);
}

describe('LocalCaIssuer with an idempotency key, over SqliteKeyStore', () => {
  it('When the same key is used twice, then the identical certificate and private key come back', async () => {
    const { issuer } = aProcess();
    const first = await issuer.issue(aRequest(), { idempotencyKey: ROTATION });
    const second = await issuer.issue(aRequest(), { idempotencyKey: ROTATION });

    expect(second).toEqual(first);
    expect(second.privateKeyPem).toBe(first.privateKeyPem);
    expect(second.fingerprintSha256).toBe(first.fingerprintSha256);
    expectKeyMatches(second);
  });

  it('When a different key is used, then a new certificate with a new key is issued and kept instead', async () => {
    const { issuer } = aProcess();
    const first = await issuer.issue(aRequest(), { idempotencyKey: ROTATION });
    const other = await issuer.issue(aRequest(), { idempotencyKey: OTHER_ROTATION });

    expect(other.fingerprintSha256).not.toBe(first.fingerprintSha256);
    expect(serialOf(other)).not.toBe(serialOf(first));
    expect(other.privateKeyPem).not.toBe(first.privateKeyPem);
    expect(await issuer.issue(aRequest(), { idempotencyKey: OTHER_ROTATION })).toEqual(other);
  });

  it('When the key is released, then the same key afterwards gets a new certificate', async () => {
    const { issuer, keyStore } = aProcess();
    const first = await issuer.issue(aRequest(), { idempotencyKey: ROTATION });
    await issuer.release('contoso', 'web', ROTATION);

    expect(await keyStore.get('contoso', issuedUnderKeyName('web'))).toBeNull();
    const again = await issuer.issue(aRequest(), { idempotencyKey: ROTATION });
    expect(again.fingerprintSha256).not.toBe(first.fingerprintSha256);
    expect(again.privateKeyPem).not.toBe(first.privateKeyPem);
  });

  it('When release is called twice, then the second call is harmless', async () => {
    const { issuer } = aProcess();
    await issuer.issue(aRequest(), { idempotencyKey: ROTATION });
    await issuer.release('contoso', 'web', ROTATION);
    await expect(issuer.release('contoso', 'web', ROTATION)).resolves.toBeUndefined();
  });

  it('When release names another key, then the kept certificate stays and is returned again', async () => {
    const { issuer, keyStore } = aProcess();
    const first = await issuer.issue(aRequest(), { idempotencyKey: ROTATION });
    await issuer.release('contoso', 'web', OTHER_ROTATION);

    expect(await keyStore.get('contoso', issuedUnderKeyName('web'))).not.toBeNull();
    expect(await issuer.issue(aRequest(), { idempotencyKey: ROTATION })).toEqual(first);
  });

  it('When release names another certificate or tenant, then the kept certificate stays', async () => {
    const { issuer } = aProcess();
    const first = await issuer.issue(aRequest(), { idempotencyKey: ROTATION });
    await issuer.release('contoso', 'api', ROTATION);
    await issuer.release('fabrikam', 'web', ROTATION);

    expect(await issuer.issue(aRequest(), { idempotencyKey: ROTATION })).toEqual(first);
  });

  it('When no key is given, then every call signs a new certificate and nothing is kept', async () => {
    const { issuer, keyStore } = aProcess();
    const a = await issuer.issue(aRequest());
    const b = await issuer.issue(aRequest());

    expect(b.fingerprintSha256).not.toBe(a.fingerprintSha256);
    expect(b.privateKeyPem).not.toBe(a.privateKeyPem);
    expect(await keyStore.get('contoso', issuedUnderKeyName('web'))).toBeNull();
  });

  it('When a certificate is kept under a key, then a call without a key still signs a new one', async () => {
    const { issuer } = aProcess();
    const kept = await issuer.issue(aRequest(), { idempotencyKey: ROTATION });
    const fresh = await issuer.issue(aRequest());

    expect(fresh.fingerprintSha256).not.toBe(kept.fingerprintSha256);
    expect(await issuer.issue(aRequest(), { idempotencyKey: ROTATION })).toEqual(kept);
  });

  it('When two certificates of a tenant (or two tenants) use the same key, then each gets its own certificate', async () => {
    const { issuer } = aProcess();
    const web = await issuer.issue(aRequest(), { idempotencyKey: ROTATION });
    const api = await issuer.issue(aRequest({ certificateId: 'api', commonName: 'api.contoso.test', dnsNames: ['api.contoso.test'] }), { idempotencyKey: ROTATION });
    const fabrikam = await issuer.issue(aRequest({ tenantId: 'fabrikam' }), { idempotencyKey: ROTATION });

    expect(new Set([web, api, fabrikam].map((c) => c.fingerprintSha256)).size).toBe(3);
    expect(new X509Certificate(api.certificatePem).subjectAltName).toBe('DNS:api.contoso.test');
    expect(await issuer.issue(aRequest(), { idempotencyKey: ROTATION })).toEqual(web);
  });

  it('When a certificate is kept, then its SQLite row holds neither the private key nor any PEM text', async () => {
    const { issuer, db } = aProcess();
    const issued = await issuer.issue(aRequest(), { idempotencyKey: ROTATION });

    const row = db.prepare('SELECT * FROM secrets WHERE tenant_id = ? AND name = ?').get('contoso', issuedUnderKeyName('web')) as Record<string, unknown> | undefined;
    expect(row).toBeDefined();
    const raw = Buffer.concat(Object.values(row!).map((v) => (Buffer.isBuffer(v) ? v : Buffer.from(String(v)))));
    const keyBody = issued.privateKeyPem.split('\n')[1]; // a line of the key's base64
    for (const needle of ['PRIVATE KEY', 'BEGIN', issued.privateKeyPem, keyBody, issued.fingerprintSha256, issued.certificatePem.split('\n')[1]]) {
      expect(raw.includes(Buffer.from(needle))).toBe(false);
    }
  });

  it('When the database files are read raw, then no private key appears in them', async () => {
    const { issuer } = aProcess();
    const issued = await issuer.issue(aRequest(), { idempotencyKey: ROTATION });

    const files = fs.readdirSync(dir).filter((f) => f.startsWith('certops.db'));
    expect(files).toContain('certops.db');
    for (const file of files) {
      const bytes = fs.readFileSync(path.join(dir, file));
      expect(bytes.includes(Buffer.from('PRIVATE KEY'))).toBe(false);
      expect(bytes.includes(Buffer.from(issued.privateKeyPem.split('\n')[1]))).toBe(false);
    }
  });

  it('When a new issuer over the same database (a restarted process) asks with the same key, then it gets the kept certificate', async () => {
    const before = await aProcess().issuer.issue(aRequest(), { idempotencyKey: ROTATION });
    closeDatabase(dbs[0]);

    const restarted = aProcess().issuer;
    const after = await restarted.issue(aRequest(), { idempotencyKey: ROTATION });

    expect(after).toEqual(before);
    const [ca] = await restarted.trustAnchorsPem('contoso');
    expect(new X509Certificate(after.certificatePem).verify(new X509Certificate(ca).publicKey)).toBe(true);
  });

  it('When the restarted process releases the key, then the next issue under it is new', async () => {
    const before = await aProcess().issuer.issue(aRequest(), { idempotencyKey: ROTATION });
    const restarted = aProcess().issuer;
    await restarted.release('contoso', 'web', ROTATION);

    expect((await restarted.issue(aRequest(), { idempotencyKey: ROTATION })).fingerprintSha256).not.toBe(before.fingerprintSha256);
  });
});
