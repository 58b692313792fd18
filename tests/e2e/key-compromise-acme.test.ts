/**
 * Issue 11, defect 10, the ACME half: "a renewal whose reason is key compromise keeps no previous
 * key and revokes the old certificate through ACME (`revokeCert` with reason keyCompromise) when
 * the CA issued it." Real parts: Pebble and pebble-challtestsrv started here, HTTP-01 answered by
 * certops, a TLS server reloaded from files, the files deployer; Pebble's own management interface
 * says whether the old certificate is revoked and why.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BACKUP_SUFFIX } from '../../shared/adapters/local/files-deployer';
import { StaticResolver } from '../../shared/adapters/tls/system-resolver';
import { createEmbeddedRuntime, type EmbeddedRuntime } from '../../shared/composition-root';
import { startPebble, type PebbleHandle } from '../../shared/demo/pebble-lab';
import { TlsFleet } from '../../shared/demo/tls-fleet';
import { createLogger } from '../../shared/observability/logger';
import { aTestConfig } from '../support/config-builders';
import { statusAtPebble } from '../support/pebble-status';
import { aCA, aCertificate } from '../support/x509-builders';

jest.setTimeout(90_000);

/** RFC 5280 §5.3.1 CRLReason keyCompromise. */
const KEY_COMPROMISE = 1;
let dir: string;
let pebble: PebbleHandle;
let fleet: TlsFleet;
let runtime: EmbeddedRuntime;

const files = () => ({ certFile: path.join(dir, 'shop', 'cert.pem'), keyFile: path.join(dir, 'shop', 'key.pem') });

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'certops-key-compromise-'));
  pebble = await startPebble({ env: { PEBBLE_VA_NOSLEEP: '1' } });
  writeFileSync(path.join(dir, 'pebble-tls.pem'), pebble.tlsCaPem);
  writeFileSync(path.join(dir, 'pebble-root.pem'), await pebble.rootPem());
  await pebble.dns.addA('shop.contoso.test', ['127.0.0.1']);
  // Before certops: an expired certificate from some other CA.
  const ca = await aCA();
  const leaf = await aCertificate({ daysLeft: -3, dnsNames: ['shop.contoso.test'], issuer: ca });
  mkdirSync(path.join(dir, 'shop'));
  writeFileSync(files().certFile, leaf.pem + ca.pem);
  writeFileSync(files().keyFile, leaf.key.privateKeyPem, { mode: 0o600 });
  fleet = await TlsFleet.start([{ name: 'shop', ...files() }]);
  const config = aTestConfig(dir, {
    tenants: [
      {
        id: 'contoso',
        assignee: { name: 'Alice' },
        trustedCaFiles: [path.join(dir, 'pebble-root.pem')],
        acme: { directoryUrl: pebble.directoryUrl, challenge: 'http-01', directoryCaFile: path.join(dir, 'pebble-tls.pem'), http01: { listenPort: pebble.httpChallengePort } },
        endpoints: [{ host: 'shop.contoso.test', port: fleet.endpoint('shop').port, managed: 'shop' }],
        managedCertificates: [{ id: 'shop', dnsNames: ['shop.contoso.test'], issuer: 'acme', target: { type: 'files', ...files(), reload: { url: fleet.reloadUrl('shop') } } }],
      },
    ],
  });
  runtime = createEmbeddedRuntime(config, {
    logger: createLogger({ level: 'silent' }),
    consoleStream: null,
    resolver: new StaticResolver({ 'shop.contoso.test': ['127.0.0.1'] }),
    rotation: { verifyInitialDelayMs: 10, verifySettleMs: 0, verifyConfirmations: 1 },
  });
  runtime.pipeline.start();
});

afterAll(async () => {
  await runtime?.close();
  await fleet?.close();
  await pebble?.stop();
  rmSync(dir, { recursive: true, force: true });
});

it('When the key of a certificate Pebble issued is compromised, then the renewal keeps no previous key once it commits and Pebble reports the old certificate revoked for keyCompromise', async () => {
  await runtime.pipeline.sweep({ reason: 'expired' }); // certops obtains the certificate that will be compromised
  const compromised = (await runtime.deps.store.getManagedState('contoso', 'shop'))!.rotation!;
  expect(compromised.state).toBe('committed');
  expect(await statusAtPebble(compromised.issued!.certificatePem, pebble)).toEqual({ Status: 'Valid' });

  await runtime.pipeline.requestRenewal({ tenantId: 'contoso', certificateId: 'shop', reason: 'key found in a public repository', keyCompromise: true });

  const rotation = (await runtime.deps.store.getManagedState('contoso', 'shop'))!.rotation!;
  expect(rotation).toMatchObject({ state: 'committed', fromFingerprint: compromised.issued!.fingerprint, retired: { why: 'key-compromise' }, revocation: { outcome: 'revoked' } });
  expect(existsSync(`${files().keyFile}${BACKUP_SUFFIX}`)).toBe(false);
  expect(await statusAtPebble(compromised.issued!.certificatePem, pebble)).toEqual({ Status: 'Revoked', Reason: KEY_COMPROMISE });
  expect(await statusAtPebble(rotation.issued!.certificatePem, pebble)).toEqual({ Status: 'Valid' });
});
