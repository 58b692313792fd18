/**
 * The local CA's creator is elected across processes (found by defect 11's overlapping runs:
 * three `certops run` started at once each created the tenant's CA, the last writer won, and the
 * certificates the others had signed no longer chained, so the next sweep saw them untrusted and
 * rotated them again). Real parts: one SQLite database file opened by several connections, as
 * several processes open it, with the real key store and the store's atomic claims.
 */
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LocalCaIssuer } from '../../shared/adapters/local/local-ca-issuer';
import { SqliteCertificateStore } from '../../shared/adapters/local/sqlite-certificate-store';
import { closeDatabase, openDatabase } from '../../shared/adapters/local/sqlite-database';
import { SqliteKeyStore } from '../../shared/adapters/local/sqlite-key-store';
import { systemClock } from '../../shared/domain/clock';

const MASTER_KEY = Buffer.alloc(32, 7);
let dir: string;
const opened: Array<ReturnType<typeof openDatabase>> = [];

beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'certops-ca-election-'));
});
afterEach(() => {
  for (const db of opened.splice(0)) closeDatabase(db);
  rmSync(dir, { recursive: true, force: true });
});

/** What one process builds: its own connection to the shared database, key store, claims, issuer. */
function aProcess(electionWaitMs?: number): LocalCaIssuer {
  const db = openDatabase(path.join(dir, 'certops.db'));
  opened.push(db);
  return new LocalCaIssuer({ keyStore: new SqliteKeyStore(db, MASTER_KEY), clock: systemClock, claims: new SqliteCertificateStore(db), electionWaitMs });
}

it('When three processes ask for a new tenant\'s CA at the same moment, then one CA is created and all three sign under it', async () => {
  const processes = [aProcess(), aProcess(), aProcess()];
  const anchors = await Promise.all(processes.map((p) => p.trustAnchorsPem('contoso')));
  const fingerprints = new Set(anchors.map(([pem]) => new X509Certificate(pem).fingerprint256));
  expect(fingerprints.size).toBe(1);
  // And what each signs chains to the CA that is stored.
  const stored = (await aProcess().trustAnchorsPem('contoso'))[0];
  for (const p of processes) {
    const issued = await p.issue({ tenantId: 'contoso', certificateId: 'web', commonName: 'www.contoso.test', dnsNames: ['www.contoso.test'], ipAddresses: [], keyType: 'ec-p256', validityDays: 30 });
    expect(new X509Certificate(issued.certificatePem).verify(new X509Certificate(stored).publicKey)).toBe(true);
  }
});

it('When the process that won the election died before storing the CA, then the others wait, then elect again and one creates it', async () => {
  const db = openDatabase(path.join(dir, 'certops.db'));
  opened.push(db);
  expect(await new SqliteCertificateStore(db).claim('contoso', 'create:local-ca:0')).toBe(true); // the winner that died
  const processes = [aProcess(200), aProcess(200)];
  const anchors = await Promise.all(processes.map((p) => p.trustAnchorsPem('contoso')));
  expect(new Set(anchors.map(([pem]) => new X509Certificate(pem).fingerprint256)).size).toBe(1);
});
