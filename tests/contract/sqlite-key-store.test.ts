import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { generateKeyPair } from '../../shared/adapters/local/certificate-factory';
import { closeDatabase, openDatabase, type Database } from '../../shared/adapters/local/sqlite-database';
import { KeyDecryptionError, SqliteKeyStore, loadOrCreateMasterKey } from '../../shared/adapters/local/sqlite-key-store';

/**
 * What only SqliteKeyStore does: encryption at rest under the master key, bound to the tenant, and
 * the master key itself. The KeyStore contract (key-store.contract.ts, run by
 * sqlite-key-store.contract.test.ts) proves get, put, delete and tenant separation.
 */
describe('SqliteKeyStore', () => {
  let dir: string;
  let dbPath: string;
  const dbs: Database[] = [];
  let pem: string;

  function openStore(kek: Buffer): SqliteKeyStore {
    const db = openDatabase(dbPath);
    dbs.push(db);
    return new SqliteKeyStore(db, kek);
  }

  beforeAll(async () => {
    pem = (await generateKeyPair('ec-p256')).privateKeyPem;
  });
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certops-keys-'));
    dbPath = path.join(dir, 'certops.db');
  });
  afterEach(() => {
    for (const db of dbs.splice(0)) closeDatabase(db);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('When a key is put and read back after reopening with the same master key, then the same PEM comes back', async () => {
    const kek = randomBytes(32);
    await openStore(kek).put('contoso', 'local-ca', pem);

    expect(await openStore(kek).get('contoso', 'local-ca')).toBe(pem);
  });

  it('When a key is stored, then the database files hold neither the PEM nor its base64 body', async () => {
    const store = openStore(randomBytes(32));
    await store.put('contoso', 'local-ca', pem);
    for (const db of dbs) db.pragma('wal_checkpoint(TRUNCATE)');

    const body = pem.split('\n')[1];
    const files = fs.readdirSync(dir).map((f) => fs.readFileSync(path.join(dir, f)));
    expect(files.some((bytes) => bytes.length > 0)).toBe(true);
    for (const bytes of files) {
      expect(bytes.includes('PRIVATE KEY')).toBe(false);
      expect(bytes.includes(body)).toBe(false);
    }
  });

  it('When the master key is not the one the value was stored with, then get fails saying so', async () => {
    await openStore(randomBytes(32)).put('contoso', 'local-ca', pem);

    const read = openStore(randomBytes(32)).get('contoso', 'local-ca');
    await expect(read).rejects.toBeInstanceOf(KeyDecryptionError);
    await expect(read).rejects.toThrow(/master key .* is not the one it was stored with/);
    await expect(read).rejects.not.toThrow(/BEGIN/);
  });

  it("When a ciphertext is copied onto another tenant's row, then it does not decrypt there", async () => {
    const kek = randomBytes(32);
    const store = openStore(kek);
    await store.put('contoso', 'local-ca', pem);
    await store.put('fabrikam', 'local-ca', 'placeholder');
    dbs[0]
      .prepare(
        `UPDATE secrets SET (iv, auth_tag, ciphertext) = (SELECT iv, auth_tag, ciphertext FROM secrets WHERE tenant_id = 'contoso')
         WHERE tenant_id = 'fabrikam'`,
      )
      .run();

    await expect(store.get('fabrikam', 'local-ca')).rejects.toBeInstanceOf(KeyDecryptionError);
  });

  describe('loadOrCreateMasterKey', () => {
    it('When no key exists, then master.key is created with mode 0600 and read back the same', () => {
      const dataDir = path.join(dir, 'data');
      const created = loadOrCreateMasterKey(dataDir, {});
      const file = path.join(dataDir, 'master.key');

      expect(created).toHaveLength(32);
      expect(fs.statSync(file).mode & 0o777).toBe(0o600);
      expect(loadOrCreateMasterKey(dataDir, {}).equals(created)).toBe(true);
    });

    it('When CERTOPS_MASTER_KEY is set, then it is used and no file is written', () => {
      const key = randomBytes(32);
      const loaded = loadOrCreateMasterKey(dir, { CERTOPS_MASTER_KEY: key.toString('base64') });

      expect(loaded.equals(key)).toBe(true);
      expect(fs.existsSync(path.join(dir, 'master.key'))).toBe(false);
    });

    it.each([
      { case: 'too short', value: randomBytes(16).toString('base64') },
      { case: 'not base64 of 32 bytes', value: 'not-a-key' },
    ])('When CERTOPS_MASTER_KEY is $case, then it is refused', ({ value }) => {
      expect(() => loadOrCreateMasterKey(dir, { CERTOPS_MASTER_KEY: value })).toThrow(/must be 32 bytes/);
    });
  });
});
