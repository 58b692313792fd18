/**
 * One managed certificate on 3 endpoints, each name on 2 addresses: the rotation deploys once
 * and commits only after all 6 addresses serve the new certificate (verified by handshake).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { createEmbeddedRuntime, type EmbeddedRuntime } from '../../shared/composition-root';
import { aTestConfig } from '../support/config-builders';
import { fixedClock } from '../../shared/domain/clock';
import { TlsFleet } from '../../shared/demo/tls-fleet';
import { freePort } from '../../shared/demo/demo-fleet';
import { createLogger } from '../../shared/observability/logger';
import { StaticResolver } from '../../shared/adapters/tls/system-resolver';
import { TlsProber } from '../../shared/adapters/tls/tls-prober';
import { aCA, aCertificate, TEST_NOW } from '../support/x509-builders';

jest.setTimeout(60_000);

const NAMES = ['app.acme.test', 'api.acme.test', 'cdn.acme.test'];
const ADDRESSES: Record<string, string[]> = {
  'app.acme.test': ['127.0.0.21', '127.0.0.22'],
  'api.acme.test': ['127.0.0.23', '127.0.0.24'],
  'cdn.acme.test': ['127.0.0.25', '127.0.0.26'],
};

let dir: string;
let fleet: TlsFleet;
let runtime: EmbeddedRuntime;
let port: number;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'certops-shared-rotation-'));
  const ca = await aCA();
  writeFileSync(path.join(dir, 'ca.pem'), ca.pem);
  const leaf = await aCertificate({ daysLeft: 2, dnsNames: NAMES, issuer: ca });
  mkdirSync(path.join(dir, 'tls'));
  const files = { certFile: path.join(dir, 'tls', 'cert.pem'), keyFile: path.join(dir, 'tls', 'key.pem') };
  writeFileSync(files.certFile, leaf.pem + ca.pem);
  writeFileSync(files.keyFile, leaf.key.privateKeyPem, { mode: 0o600 });
  port = await freePort();
  // Six servers, one per address, all reading the same files (one deployment target).
  fleet = await TlsFleet.start(Object.values(ADDRESSES).flat().map((address) => ({ name: address, address, port, ...files })));
  const reloadAll = fleet.reloadCommand(Object.values(ADDRESSES).flat());
  const config = aTestConfig(dir, {
    discovery: { concurrency: 8, connectTimeoutMs: 1000, handshakeTimeoutMs: 2000 },
    tenants: [
      {
        id: 'acme',
        assignee: { name: 'Dana' },
        trustedCaFiles: [path.join(dir, 'ca.pem')],
        endpoints: NAMES.map((host) => ({ host, port, managed: 'shared' })),
        managedCertificates: [{ id: 'shared', dnsNames: NAMES, issuer: 'local-ca', target: { type: 'files', ...files, reload: { command: reloadAll } } }],
      },
    ],
  });
  runtime = createEmbeddedRuntime(config, {
    logger: createLogger({ level: 'silent' }),
    clock: fixedClock(TEST_NOW),
    consoleStream: null,
    resolver: new StaticResolver(ADDRESSES),
  });
  runtime.pipeline.start();
  await runtime.pipeline.sweep({ reason: 'shared certificate' });
});

afterAll(async () => {
  await runtime?.close();
  await fleet?.close();
  rmSync(dir, { recursive: true, force: true });
});

it('When a certificate shared by 3 endpoints on 2 addresses each is rotated, then it is issued and deployed once and committed after all 6 addresses serve it', async () => {
  const audit = await runtime.deps.audit.list('acme');
  expect(audit.filter((r) => r.kind === 'certificate.issued')).toHaveLength(1);
  expect(audit.filter((r) => r.kind === 'certificate.deployed')).toHaveLength(1);
  const committed = audit.filter((r) => r.kind === 'rotation.committed');
  expect(committed).toHaveLength(1);
  const verified = committed[0].data.verified as Array<{ endpointId: string; address: string }>;
  expect(verified.map((v) => `${v.endpointId.split(':')[0]}@${v.address}`).sort()).toEqual(
    Object.entries(ADDRESSES).flatMap(([name, addrs]) => addrs.map((a) => `${name}@${a}`)).sort(),
  );
  const prober = new TlsProber();
  const served = new Set<string>();
  for (const address of Object.values(ADDRESSES).flat()) {
    const r = await prober.probe({ address, port, connectTimeoutMs: 1000, handshakeTimeoutMs: 2000 });
    if (!r.ok) throw new Error(r.error.message);
    served.add(createHash('sha256').update(r.chain[0]).digest('hex'));
  }
  expect([...served]).toEqual([committed[0].data.to]);
});
