/**
 * A wildcard certificate on a fleet: 4 servers, each with its own files (4 deployment targets)
 * and its own endpoint. The rotation goes to a canary first (the target marked `canary`), verifies
 * it by handshake, then the rest; it is all or none: a canary that does not serve the new
 * certificate stops the rotation before any other server is touched, and a failure on a later
 * server restores every server already deployed. Real TLS servers, files and reload hooks.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { createEmbeddedRuntime, type EmbeddedRuntime } from '../../shared/composition-root';
import type { FilesTarget } from '../../shared/config/model';
import { TlsFleet } from '../../shared/demo/tls-fleet';
import { BACKUP_SUFFIX } from '../../shared/adapters/local/files-deployer';
import { StaticResolver } from '../../shared/adapters/tls/system-resolver';
import { TlsProber } from '../../shared/adapters/tls/tls-prober';
import { createLogger } from '../../shared/observability/logger';
import type { Notification } from '../../shared/ports/notifier';
import { aTestConfig } from '../support/config-builders';
import { aCA, aCertificate } from '../support/x509-builders';

jest.setTimeout(60_000);

const SERVERS = ['edge-1', 'edge-2', 'edge-3', 'edge-4'];
/** The canary is the third server: it goes first whatever its place in the list. */
const CANARY = 'edge-3';

interface World {
  dir: string;
  fleet: TlsFleet;
  runtime: EmbeddedRuntime;
  original: Map<string, { cert: string; key: string; fingerprint: string }>;
  files(name: string): { certFile: string; keyFile: string };
  served(name: string): Promise<string>;
  outbox(): Notification[];
  close(): Promise<void>;
}

/** `reloadTo` maps a server to the server its reload hook really reaches (a decoy breaks it), or to a URL that fails. */
async function aWildcardFleet(options: { reloadTo?: Record<string, string | { failingUrl: true }> } = {}): Promise<World> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'certops-wildcard-'));
  const ca = await aCA();
  writeFileSync(path.join(dir, 'ca.pem'), ca.pem);
  const leaf = await aCertificate({ daysLeft: 2, dnsNames: ['*.fleet.test'], issuer: ca });
  const files = (name: string) => ({ certFile: path.join(dir, name, 'cert.pem'), keyFile: path.join(dir, name, 'key.pem') });
  const original = new Map<string, { cert: string; key: string; fingerprint: string }>();
  for (const name of [...SERVERS, 'decoy']) {
    mkdirSync(path.join(dir, name));
    writeFileSync(files(name).certFile, leaf.pem + ca.pem);
    writeFileSync(files(name).keyFile, leaf.key.privateKeyPem, { mode: 0o600 });
    original.set(name, { cert: leaf.pem + ca.pem, key: leaf.key.privateKeyPem, fingerprint: leaf.certificate.fingerprintSha256 });
  }
  const fleet = await TlsFleet.start([...SERVERS, 'decoy'].map((name) => ({ name, ...files(name) })));
  const reloadUrl = (name: string): string => {
    const to = options.reloadTo?.[name];
    if (to === undefined) return fleet.reloadUrl(name);
    return typeof to === 'string' ? fleet.reloadUrl(to) : `${fleet.controlUrl}/reload/nobody`;
  };
  const outboxFile = path.join(dir, 'outbox.jsonl');
  const config = aTestConfig(dir, {
    notifications: { console: false, outboxFile },
    tenants: [
      {
        id: 'acme',
        assignee: { name: 'Dana' },
        escalation: { name: 'On-call' },
        trustedCaFiles: [path.join(dir, 'ca.pem')],
        endpoints: SERVERS.map((name) => ({ host: `${name}.fleet.test`, port: fleet.endpoint(name).port, managed: 'wildcard' })),
        managedCertificates: [
          {
            id: 'wildcard',
            dnsNames: ['*.fleet.test'],
            issuer: 'local-ca',
            targets: SERVERS.map(
              (name): FilesTarget => ({
                type: 'files',
                ...files(name),
                reload: { url: reloadUrl(name) },
                serves: [`${name}.fleet.test:${fleet.endpoint(name).port}`],
                ...(name === CANARY ? { canary: true } : {}),
              }),
            ),
          },
        ],
      },
    ],
  });
  const runtime = createEmbeddedRuntime(config, {
    logger: createLogger({ level: 'silent' }),
    consoleStream: null,
    resolver: new StaticResolver(Object.fromEntries(SERVERS.map((name) => [`${name}.fleet.test`, ['127.0.0.1']]))),
    rotation: { verifyTimeoutMs: 800, verifyInitialDelayMs: 25, verifyMaxDelayMs: 200 },
  });
  runtime.pipeline.start();
  return {
    dir,
    fleet,
    runtime,
    original,
    files,
    served: async (name) => {
      const { address, port } = fleet.endpoint(name);
      const r = await new TlsProber().probe({ address, port, servername: `${name}.fleet.test`, connectTimeoutMs: 1000, handshakeTimeoutMs: 2000 });
      if (!r.ok) throw new Error(r.error.message);
      return createHash('sha256').update(r.chain[0]).digest('hex');
    },
    outbox: () => (existsSync(outboxFile) ? readFileSync(outboxFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Notification) : []),
    close: async () => {
      await runtime.close();
      await fleet.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe('When a wildcard on 4 servers is rotated', () => {
  let world: World;
  beforeAll(async () => {
    world = await aWildcardFleet();
    await world.runtime.pipeline.sweep({ reason: 'expiring wildcard' });
  });
  afterAll(() => world.close());

  it('then every server serves the one new certificate, issued once', async () => {
    const state = await world.runtime.deps.store.getManagedState('acme', 'wildcard');
    expect(state?.rotation?.state).toBe('committed');
    const fresh = state!.deployedFingerprint!;
    expect(fresh).not.toBe(world.original.get('edge-1')!.fingerprint);
    expect(await Promise.all(SERVERS.map((s) => world.served(s)))).toEqual(SERVERS.map(() => fresh));
    expect((await world.runtime.deps.audit.list('acme')).filter((r) => r.kind === 'certificate.issued')).toHaveLength(1);
  });

  it('then the canary was deployed and verified before any other server was touched', async () => {
    const rotation = (await world.runtime.deps.store.getManagedState('acme', 'wildcard'))!.rotation!;
    expect(rotation.deployments.map((d) => SERVERS[d.target])).toEqual([CANARY, 'edge-1', 'edge-2', 'edge-4']);
    const kinds = (await world.runtime.deps.audit.list('acme')).filter((r) => r.data.rotationId === rotation.rotationId).map((r) => r.kind);
    expect(kinds).toEqual(['rotation.planned', 'certificate.issued', 'rotation.canary-verified', 'certificate.deployed', 'rotation.verified', 'rotation.committed']);
    const canaryCheck = (await world.runtime.deps.audit.list('acme')).find((r) => r.kind === 'rotation.canary-verified')!;
    expect((canaryCheck.data.verified as Array<{ endpointId: string }>).map((v) => v.endpointId)).toEqual([`${CANARY}.fleet.test:${world.fleet.endpoint(CANARY).port}`]);
  });
});

describe('When the canary does not serve the new certificate', () => {
  let world: World;
  beforeAll(async () => {
    world = await aWildcardFleet({ reloadTo: { [CANARY]: 'decoy' } });
    await world.runtime.pipeline.sweep({ reason: 'expiring wildcard' });
  });
  afterAll(() => world.close());

  it('then no other server was touched: their files were never written', () => {
    for (const name of SERVERS.filter((s) => s !== CANARY)) {
      expect(readFileSync(world.files(name).certFile, 'utf8')).toBe(world.original.get(name)!.cert);
      expect(existsSync(world.files(name).certFile + BACKUP_SUFFIX)).toBe(false);
    }
  });

  it('then the canary is restored, every server serves the old certificate, and the escalation contact is told', async () => {
    expect(readFileSync(world.files(CANARY).certFile, 'utf8')).toBe(world.original.get(CANARY)!.cert);
    expect(await Promise.all(SERVERS.map((s) => world.served(s)))).toEqual(SERVERS.map((s) => world.original.get(s)!.fingerprint));
    const rotation = (await world.runtime.deps.store.getManagedState('acme', 'wildcard'))!.rotation!;
    expect(rotation).toMatchObject({ state: 'escalated', restored: true, restoredVerified: true, failure: { step: 'verify' } });
    expect(rotation.failure!.reason).toMatch(/^verification failed: canary target 3 of 4 \(files .*edge-3\/cert\.pem\)/);
    expect(world.outbox().filter((n) => n.kind === 'rotation-failed').map((n) => n.to.name)).toEqual(['On-call']);
  });
});

describe('When a server after the canary refuses its reload', () => {
  let world: World;
  beforeAll(async () => {
    world = await aWildcardFleet({ reloadTo: { 'edge-2': { failingUrl: true } } });
    await world.runtime.pipeline.sweep({ reason: 'expiring wildcard' });
  });
  afterAll(() => world.close());

  it('then all or none: every server deployed so far is restored byte for byte, the last one untouched, all serve the old certificate', async () => {
    const rotation = (await world.runtime.deps.store.getManagedState('acme', 'wildcard'))!.rotation!;
    expect(rotation.deployments.map((d) => SERVERS[d.target])).toEqual([CANARY, 'edge-1', 'edge-2']);
    // edge-2's files are back, but its (still failing) reload fails the restore too: the record says
    // so (restored: false, straight to escalated) while the handshakes prove the old one is served.
    expect(rotation).toMatchObject({ state: 'escalated', restored: false, restoredVerified: true, failure: { step: 'deploy' } });
    expect(rotation.history.map((h) => h.state)).toEqual(['planned', 'issued', 'rolling-back', 'escalated']);
    const restoreFailures = (await world.runtime.deps.audit.list('acme')).filter((r) => r.kind === 'certificate.restore-failed');
    expect(restoreFailures.map((r) => r.data.target)).toEqual([1]);
    expect(rotation.failure!.reason).toMatch(/^deployment failed: target 2 of 4 .*404/);
    for (const name of SERVERS) {
      expect(readFileSync(world.files(name).certFile, 'utf8')).toBe(world.original.get(name)!.cert);
      expect(readFileSync(world.files(name).keyFile, 'utf8')).toBe(world.original.get(name)!.key);
    }
    expect(existsSync(world.files('edge-4').certFile + BACKUP_SUFFIX)).toBe(false);
    expect(await Promise.all(SERVERS.map((s) => world.served(s)))).toEqual(SERVERS.map((s) => world.original.get(s)!.fingerprint));
    expect((await world.runtime.deps.store.getManagedState('acme', 'wildcard'))?.lastRotation?.outcome).toBe('failed');
    expect(world.outbox().filter((n) => n.kind === 'rotation-failed')).toHaveLength(1);
  });
});
