/**
 * Zero-downtime rotation under load (issue 4): the load harness of the e2e test
 * (tests/support/rotation-load.ts: a real nginx and a Node TLS server, a load generator process
 * opening fresh handshakes and HTTPS requests) run twice under the same load:
 *
 *  - certops rotates: requestRenewal → issue (local CA) → deploy to both targets → verify → commit;
 *  - the peer, a bare loop with no certops: write both servers' files, `nginx -s reload` and POST
 *    the Node server's reload URL, then handshake both until they show the new fingerprint. Its
 *    certificates are made before the load starts, so it measures deploy + reload + poll only:
 *    the ceiling for "deploy to verified".
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as tls from 'node:tls';
import { promisify } from 'node:util';
import { closeDatabase, openDatabase } from '../../shared/adapters/local/sqlite-database';
import { SqliteEventBus } from '../../shared/adapters/local/sqlite-event-bus';
import { MS_PER_DAY } from '../../shared/domain/clock';
import { embeddedRoutes } from '../../shared/pipeline/embedded-pipeline';
import { certopsRotator, LOAD_HOST, median, runRotationLoad, type LoadBed, type RotationLoadFigures, type Rotator } from '../../tests/support/rotation-load';
import { aCertificate, TEST_NOW, type TestCertificate } from '../../tests/support/x509-builders';

/** The bare loop polls this often: tighter than certops' verification backoff (a ceiling). */
const BARE_POLL_MS = 10;
const BARE_VERIFY_TIMEOUT_MS = 10_000;

export interface RotationLoadBench {
  certops: RotationLoadFigures;
  bare: RotationLoadFigures;
  certopsMedianMs: number;
  certopsMaxMs: number;
  bareMedianMs: number;
  bareMaxMs: number;
  /** What certops' bus dead-lettered during its rotations (the bench refuses a run with any). */
  deadLetters: Array<{ where: string; reason: string; description: string | null }>;
  notes: string[];
}

export async function measureRotationLoad(options: { rotations: number; attemptsPerSecond: number }, log: (s: string) => void): Promise<RotationLoadBench> {
  log(`rotation under load: certops, ${options.rotations} rotations at ${options.attemptsPerSecond} fresh connections/s (nginx + Node server)…`);
  const watched = watchDeadLetters(certopsRotator());
  const certops = await runRotationLoad({ ...options, rotator: watched.rotator });
  log(`  certops: ${certops.attempts} attempts, ${certops.failures} failed, deploy→verified median ${median(certops.deployToVerifiedMs)} ms`);
  log(`rotation under load: bare write + reload + poll loop, same load…`);
  const bare = await runRotationLoad({ ...options, rotator: bareReloadLoop(options.rotations) });
  log(`  bare loop: ${bare.attempts} attempts, ${bare.failures} failed, deploy→verified median ${median(bare.deployToVerifiedMs)} ms`);
  const describe = (f: RotationLoadFigures): string =>
    `${f.rotator}: ${f.attempts} attempts in ${f.loadSeconds.toFixed(1)} s (${JSON.stringify(f.byTarget)}), ${f.failures} failed, ` +
    `${f.rotations.filter((r) => r.outcome === 'committed').length}/${f.rotations.length} committed, ${f.distinctFingerprints} new fingerprints, ` +
    `${f.staleAfterCommit.length} attempts saw an older certificate after the commit (max ${Math.max(0, ...f.staleAfterCommit.map((s) => s.msAfterCommit))} ms after), ` +
    `${f.oldSeenDuringRotation} saw the previous one while a rotation was under way; deploy→verified ms ${JSON.stringify(f.deployToVerifiedMs)}`;
  const notes = [`rotation load: ${describe(certops)}`, `rotation load: ${describe(bare)}`];
  for (const f of [certops, bare]) {
    if (f.failures > 0) notes.push(`WARNING: ${f.rotator} rotation load: ${f.failures} failed attempts, e.g. ${JSON.stringify(f.failureSamples.slice(0, 3))}`);
  }
  return {
    certops,
    bare,
    certopsMedianMs: median(certops.deployToVerifiedMs),
    certopsMaxMs: Math.max(...certops.deployToVerifiedMs),
    bareMedianMs: median(bare.deployToVerifiedMs),
    bareMaxMs: Math.max(...bare.deployToVerifiedMs),
    deadLetters: watched.deadLetters(),
    notes,
  };
}

/**
 * certops' rotator as the e2e test uses it, plus a look at its bus once it has closed: the runtime
 * is private to the rotator, so the dead letters are read from the database it leaves in the bed's
 * directory (aTestConfig's `data` folder) before runRotationLoad removes that directory. A missing
 * database is reported as a dead letter of its own, so a change of layout cannot hide one.
 */
function watchDeadLetters(inner: Rotator): { rotator: Rotator; deadLetters: () => RotationLoadBench['deadLetters'] } {
  let dir: string | undefined;
  let letters: RotationLoadBench['deadLetters'] = [{ where: 'rotation bench', reason: 'NotRead', description: 'the rotator never closed, so its bus was not read' }];
  return {
    rotator: {
      name: inner.name,
      prepare(bed) {
        dir = bed.dir;
        return inner.prepare(bed);
      },
      rotate: (index) => inner.rotate(index),
      async close() {
        await inner.close();
        const file = dir ? path.join(dir, 'data', 'certops.db') : null;
        if (!file || !existsSync(file)) {
          letters = [{ where: 'rotation bench', reason: 'NotRead', description: "certops' database was not found in the bed's data folder, so its dead letters could not be read" }];
          return;
        }
        const db = openDatabase(file);
        try {
          letters = (await new SqliteEventBus(db, { routes: embeddedRoutes() }).deadLetters()).map((d) => ({ where: `bus ${d.subscription}`, reason: d.reason, description: d.description }));
        } finally {
          closeDatabase(db);
        }
      },
    },
    deadLetters: () => letters,
  };
}

/** The peer: rotations without certops, each a pre-made certificate of the bed's CA. */
function bareReloadLoop(rotations: number): Rotator {
  let bed: LoadBed | undefined;
  let leaves: TestCertificate[] = [];
  return {
    name: 'bare reload loop',
    async prepare(b) {
      bed = b;
      // Valid today on the real clock (the builders date certificates from TEST_NOW).
      const daysLeft = Math.ceil((Date.now() - TEST_NOW.getTime()) / MS_PER_DAY) + 60;
      leaves = await Promise.all(Array.from({ length: rotations }, () => aCertificate({ dnsNames: [LOAD_HOST], issuer: b.ca, daysLeft })));
      return { caPems: [] };
    },
    async rotate(index) {
      if (!bed) throw new Error('bare reload loop: prepare() first');
      const leaf = leaves[index];
      const fingerprint = leaf.certificate.fingerprintSha256;
      const startedAtMs = Date.now();
      for (const target of bed.targets) {
        writeFileSync(target.certFile, leaf.pem + bed.ca.pem);
        writeFileSync(target.keyFile, leaf.key.privateKeyPem, { mode: 0o600 });
      }
      const [command, ...args] = bed.targets[0].reload!.command!;
      await Promise.all([
        promisify(execFile)(command, args),
        fetch(bed.targets[1].reload!.url!, { method: 'POST' }).then((r) => {
          if (!r.ok) throw new Error(`node reload answered ${r.status}`);
        }),
      ]);
      const deadline = startedAtMs + BARE_VERIFY_TIMEOUT_MS;
      const ports = bed.endpoints.map((e) => e.port);
      let verified = false;
      while (!verified && Date.now() < deadline) {
        verified = (await Promise.all(ports.map(servedFingerprint))).every((f) => f === fingerprint);
        if (!verified) await new Promise((r) => setTimeout(r, BARE_POLL_MS));
      }
      const verifiedAtMs = Date.now();
      return {
        index,
        startedAtMs,
        committedAtMs: verifiedAtMs,
        endedAtMs: verifiedAtMs,
        outcome: verified ? 'committed' : 'timed out',
        fingerprint,
        deployToVerifiedMs: verifiedAtMs - startedAtMs,
        failure: verified ? null : `not served within ${BARE_VERIFY_TIMEOUT_MS} ms`,
      };
    },
    async close() {
      leaves = [];
    },
  };
}

/** One fresh handshake (no session): the SHA-256 of the served leaf, or null when it failed. */
function servedFingerprint(port: number): Promise<string | null> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: LOAD_HOST, rejectUnauthorized: false }, () => {
      const raw = socket.getPeerCertificate().raw;
      socket.end();
      resolve(raw ? createHash('sha256').update(raw).digest('hex') : null);
    });
    socket.setTimeout(2000, () => (socket.destroy(), resolve(null)));
    socket.on('error', () => resolve(null));
  });
}
