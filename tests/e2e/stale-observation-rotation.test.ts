/**
 * Issue 11, defect 11: "A stale observation rotates a certificate twice."
 *
 * An analysis made before a rotation committed still names the certificate that was replaced; when
 * its renewal request reaches the rotate stage later (redelivered after a crash, or from a sweep
 * that overlapped another), it must not rotate again. The request carries the time of the
 * observation it rests on, and rotate skips a request whose `fromFingerprint` is no longer the
 * deployed certificate when that observation predates the deployment, however late the request
 * was gated or delivered (the old check compared the gate's time).
 *
 * Real parts: twenty TLS servers on loopback serving due certificates from files, certops' own CA,
 * the files deployer reloading each server, `certops run` in child processes that are SIGKILLed
 * at seeded random moments, or started three at once on the same data.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createEmbeddedRuntime } from '../../shared/composition-root';
import { TlsFleet } from '../../shared/demo/tls-fleet';
import { TlsProber } from '../../shared/adapters/tls/tls-prober';
import { MS_PER_DAY } from '../../shared/domain/clock';
import { ROTATION_AUDIT_KIND } from '../../shared/domain/rotation';
import { createLogger } from '../../shared/observability/logger';
import type { CertopsConfig } from '../../shared/config/model';
import { aTestConfig } from '../support/config-builders';
import type { SweepChildJob } from '../support/sweep-child';
import { aCA, aCertificate, TEST_NOW } from '../support/x509-builders';

jest.setTimeout(240_000);

const TENANT = 'acme';
const CERTIFICATES = 20;
const REPO = path.resolve(__dirname, '../..');
const CHILD = path.join(REPO, 'tests/support/sweep-child.ts');
const LEASE_MS = 400;
const LOCK_DURATION_MS = 1_200;
/** A sweep of the twenty takes about a second once the pipeline runs: kills land anywhere in it. */
const KILL_WINDOW_MS = 900;

interface World {
  dir: string;
  fleet: TlsFleet;
  config: CertopsConfig;
  hosts: Record<string, string[]>;
  names: string[];
  close(): Promise<void>;
}

const nameOf = (i: number) => `c${String(i + 1).padStart(2, '0')}`;
const hostOf = (name: string) => `${name}.acme.test`;

/** Twenty servers, each serving its own certificate with three days left (due: certops renews it). */
async function aFleetOfDueCertificates(): Promise<World> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'certops-stale-observation-'));
  const ca = await aCA();
  writeFileSync(path.join(dir, 'ca.pem'), ca.pem);
  const daysLeft = Math.ceil((Date.now() - TEST_NOW.getTime()) / MS_PER_DAY) + 3;
  const names = Array.from({ length: CERTIFICATES }, (_, i) => nameOf(i));
  const filesOf = (name: string) => ({ certFile: path.join(dir, name, 'cert.pem'), keyFile: path.join(dir, name, 'key.pem') });
  for (const name of names) {
    const leaf = await aCertificate({ daysLeft, dnsNames: [hostOf(name)], issuer: ca });
    mkdirSync(path.join(dir, name));
    writeFileSync(filesOf(name).certFile, leaf.pem + ca.pem);
    writeFileSync(filesOf(name).keyFile, leaf.key.privateKeyPem, { mode: 0o600 });
  }
  const fleet = await TlsFleet.start(names.map((name) => ({ name, ...filesOf(name) })));
  const config = aTestConfig(dir, {
    tenants: [
      {
        id: TENANT,
        assignee: { name: 'Dana', email: 'dana@msp.example' },
        trustedCaFiles: [path.join(dir, 'ca.pem')],
        endpoints: names.map((name) => ({ host: hostOf(name), port: fleet.endpoint(name).port, managed: name })),
        managedCertificates: names.map((name) => ({
          id: name,
          dnsNames: [hostOf(name)],
          issuer: 'local-ca' as const,
          target: { type: 'files' as const, ...filesOf(name), reload: { url: fleet.reloadUrl(name) } },
        })),
      },
    ],
  });
  const hosts = Object.fromEntries(names.map((name) => [hostOf(name), ['127.0.0.1']]));
  return {
    dir,
    fleet,
    config,
    hosts,
    names,
    close: async () => {
      await fleet.close();
      // STALE_KEEP=1 keeps the data (database, jobs) to look at.
      if (process.env.STALE_KEEP) process.stderr.write(`stale observation case kept in ${dir}\n`);
      else rmSync(dir, { recursive: true, force: true });
    },
  };
}

let jobs = 0;
/** Starts `certops run` on the world's data; resolves when it exits (or is killed). */
function startRun(world: World): { pid: number; started: Promise<void>; exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> } {
  const job: SweepChildJob = { config: world.config, hosts: world.hosts, leaseMs: LEASE_MS, lockDurationMs: LOCK_DURATION_MS };
  const jobFile = path.join(world.dir, `job-${++jobs}.json`);
  writeFileSync(jobFile, JSON.stringify(job));
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, jobFile], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  const started = new Promise<void>((resolve) => {
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('started')) resolve();
    });
    child.on('close', () => resolve());
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stderr }));
  });
  return { pid: child.pid!, started, exited };
}

async function runToCompletion(world: World): Promise<void> {
  const run = await startRun(world).exited;
  if (run.code !== 0) throw new Error(`certops run failed (code ${run.code}, signal ${run.signal}): ${run.stderr}`);
}

/** A small seeded generator (mulberry32): the same seed kills at the same moments. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Per certificate: the rotations that committed (from the audit), what the store says is deployed, and what the server serves. */
async function outcome(world: World): Promise<Array<{ certificate: string; committed: string[]; deployed: string | null; committedTo: string | null; served: string }>> {
  const runtime = createEmbeddedRuntime(world.config, { logger: createLogger({ level: 'silent' }), consoleStream: null, notify: false });
  try {
    const audit = await runtime.deps.audit.list(TENANT);
    const prober = new TlsProber();
    const rows = [];
    for (const name of world.names) {
      const commits = audit.filter((r) => r.kind === ROTATION_AUDIT_KIND.committed && r.data.certificateId === name);
      const state = await runtime.deps.store.getManagedState(TENANT, name);
      const probe = await prober.probe({ ...world.fleet.endpoint(name), servername: hostOf(name), connectTimeoutMs: 1000, handshakeTimeoutMs: 2000 });
      rows.push({
        certificate: name,
        committed: [...new Set(commits.map((r) => String(r.data.rotationId)))],
        deployed: state?.deployedFingerprint ?? null,
        committedTo: (commits.at(-1)?.data.to as string | undefined) ?? null,
        served: probe.ok ? createHash('sha256').update(probe.chain[0]).digest('hex') : `probe failed: ${probe.error.message}`,
      });
    }
    return rows;
  } finally {
    await runtime.close();
  }
}

function expectOneRotationEach(rows: Awaited<ReturnType<typeof outcome>>): void {
  const twice = rows.filter((r) => r.committed.length !== 1).map((r) => `${r.certificate}: ${r.committed.length} committed rotations (${r.committed.join(', ')})`);
  expect(twice).toEqual([]);
  for (const row of rows) {
    expect({ certificate: row.certificate, served: row.served, deployed: row.deployed }).toEqual({ certificate: row.certificate, served: row.committedTo, deployed: row.committedTo });
  }
}

describe('Defect 11: a stale observation rotates a certificate twice', () => {
  it.each([[11], [23], [37], [41], [53]])(
    'When certops is killed at random moments during sweeps of 20 due certificates (seed %i) and then run to completion, then each certificate is rotated exactly once and serves the committed certificate',
    async (seed) => {
      const world = await aFleetOfDueCertificates();
      try {
        const next = random(seed);
        for (let kill = 0; kill < 6; kill++) {
          const run = startRun(world);
          await run.started;
          const after = Math.floor(next() * KILL_WINDOW_MS);
          const began = Date.now();
          const timer = setTimeout(() => {
            try {
              process.kill(run.pid, 'SIGKILL');
            } catch {
              // it finished first
            }
          }, after);
          const exit = await run.exited;
          clearTimeout(timer);
          if (process.env.STALE_TRACE) process.stderr.write(`kill ${kill}: after ${after} ms; ${exit.signal ?? `exit ${exit.code}`} at ${Date.now() - began} ms\n`);
        }
        await runToCompletion(world);
        expectOneRotationEach(await outcome(world));
      } finally {
        await world.close();
      }
    },
  );

  it('When three certops runs sweep the same data at once, then each certificate is rotated exactly once and serves the committed certificate', async () => {
    const world = await aFleetOfDueCertificates();
    try {
      const runs = [startRun(world), startRun(world), startRun(world)];
      const results = await Promise.all(runs.map((r) => r.exited));
      expect(results.map((r) => (r.code === 0 ? 'ok' : r.stderr))).toEqual(['ok', 'ok', 'ok']);
      await runToCompletion(world);
      expectOneRotationEach(await outcome(world));
    } finally {
      await world.close();
    }
  });
});
