/**
 * `certops demo` (what `npm start` runs): the whole mission on one machine, with no Azure.
 * A fleet of real TLS servers for two tenants, one sweep (discover → analyze → gate → rotate →
 * notify), proof by handshake that the managed servers now serve new certificates, the L1 loop
 * over the HTTP API (a technician reviews, overrides, escalates, approves; l1-walkthrough.ts), a
 * second sweep that changes nothing and tells nobody, the reports before and after, and where the
 * notifications and the audit went.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createEmbeddedRuntime } from '../composition-root';
import { createLogger } from '../observability/logger';
import { TlsProber } from '../adapters/tls/tls-prober';
import { StaticResolver } from '../adapters/tls/system-resolver';
import { inventory } from '../pipeline/inventory';
import { formatInventory } from '../cli/report-format';
import { auditVerify } from '../cli/main';
import { buildDemoWorld, type DemoAcme, type DemoWorld } from './demo-fleet';
import { startPebble, type PebbleHandle } from './pebble-lab';
import { startWebhookReceiver } from './webhook-receiver';
import { runL1Walkthrough, startDemoApi } from './l1-walkthrough';

const WEBHOOK_SECRET_ENV = 'CERTOPS_DEMO_WEBHOOK_SECRET';

export async function runDemo(options: { out: NodeJS.WritableStream; workDir?: string }): Promise<number> {
  const print = (text = '') => options.out.write(`${text}\n`);
  const started = Date.now();
  const workDir = options.workDir ?? mkdtempSync(path.join(os.tmpdir(), 'certops-demo-'));
  const secret = createHash('sha256').update(`${workDir}${Math.random()}`).digest('hex');
  const receiver = await startWebhookReceiver(secret);
  const lab = await startLabCa(workDir, print);
  // Started first: its address is the notifications' actionsBaseUrl, so their links lead to it.
  const api = await startDemoApi();
  const world = await buildDemoWorld(workDir, new Date(), { url: receiver.url, secretEnv: WEBHOOK_SECRET_ENV }, lab?.acme, { actionsBaseUrl: api.url });
  const runtime = createEmbeddedRuntime(world.config, {
    logger: createLogger({ level: process.env.CERTOPS_LOG_LEVEL ?? 'warn' }),
    env: { ...process.env, [WEBHOOK_SECRET_ENV]: secret },
    consoleStream: options.out as unknown as import('node:stream').Writable,
    // The demo's names exist only in its host map; nothing is asked of the system resolver.
    resolver: new StaticResolver(world.hosts),
  });
  api.attach(runtime);
  try {
    print(`certops demo: 2 tenants, ${world.fleet.endpoints().length} real TLS servers on 127.0.0.x:${world.port}, working directory ${workDir}`);
    const before = await servedFingerprints(world);
    runtime.pipeline.start();

    print('\n== Sweep 1: discover → analyze → gate → rotate → notify (notifications as they are sent) ==');
    const sweep1 = await runtime.pipeline.sweep({ reason: 'demo' });
    const rowsBefore = await inventory(runtime.deps.store);
    print(`\n== Report BEFORE rotation (what sweep ${sweep1.sweepId} found) ==`);
    print(formatInventory(rowsBefore));

    print('\n== What the managed servers serve now (a fresh handshake each) ==');
    const after = await servedFingerprints(world);
    let rotated = 0;
    for (const name of world.managedEndpoints) {
      const changed = before.get(name) !== after.get(name);
      if (changed) rotated++;
      print(`  ${name.padEnd(20)} ${short(before.get(name))} → ${short(after.get(name))}  ${changed ? 'ROTATED' : 'unchanged (healthy, not due)'}`);
    }

    print('\n== The L1 loop over HTTP: certops acted and told; Dana, a technician of fabrikam, answers afterwards ==');
    const loopOk = await runL1Walkthrough({
      runtime,
      api,
      tenantId: 'fabrikam',
      reviewed: 'portal',
      overridden: { certificateId: 'mail', server: 'mail.fabrikam' },
      foreign: { tenantId: 'contoso', certificateId: 'shop' },
      served: async (name) => (await servedFingerprints(world, [name])).get(name)!,
      print,
    });

    const sent = receiver.received.length;
    print('\n== Sweep 2: nothing changed since, so nobody is told again ==');
    await runtime.pipeline.sweep({ reason: 'demo, second look' });
    print(`  notifications in sweep 2: ${receiver.received.length - sent}`);
    print('\n== Report AFTER rotation ==');
    print(formatInventory(await inventory(runtime.deps.store)));

    const dead = await runtime.bus.deadLetters();
    print('\n== Where things went ==');
    print(`  notifications: console (above), ${runtime.outboxFile} (${lines(runtime.outboxFile)} lines), signed webhook ${receiver.url} (${receiver.received.length} received, ${receiver.badSignatures} with a bad signature)`);
    print(`  inventory, audit chain, bus: ${runtime.databaseFile}`);
    print(`  dead letters: ${dead.length}`);
    await auditVerify(runtime.deps, undefined, (t) => print(`  ${t}`));
    // The demo's configuration, minus the webhook whose receiver is gone, for `certops report`.
    const configFile = path.join(workDir, 'certops.json');
    const { webhook: _webhook, ...notifications } = world.config.notifications;
    writeFileSync(configFile, JSON.stringify({ ...world.config, notifications }, null, 2));
    const loop = loopOk ? 'the L1 loop over HTTP went as shown' : 'the L1 loop over HTTP did NOT go as shown (see UNEXPECTED above)';
    print(`\ncertops demo: ${rotated} of ${world.managedEndpoints.length} managed endpoints rotated and verified, and ${loop}, in ${((Date.now() - started) / 1000).toFixed(1)} s.`);
    print(`Look again: node dist/shared/cli/main.js report --config ${configFile}   (or: audit verify --config ${configFile})`);
    return rotated > 0 && loopOk && receiver.badSignatures === 0 && dead.length === 0 ? 0 : 1;
  } finally {
    await api.close();
    await runtime.close();
    await world.fleet.close();
    await receiver.close();
    await lab?.pebble.stop();
  }
}

/**
 * Pebble (Let's Encrypt's test CA, Debian package `pebble`) when it is installed: contoso's shop
 * certificate is then renewed through ACME HTTP-01; without it, through certops' own CA.
 */
async function startLabCa(workDir: string, print: (text?: string) => void): Promise<{ pebble: PebbleHandle; acme: DemoAcme } | null> {
  if (!onPath('pebble') || !onPath('pebble-challtestsrv')) {
    print('(Pebble is not installed: every managed certificate is renewed by certops\' own CA; `apt-get install pebble` adds an ACME renewal to the demo)');
    return null;
  }
  const pebble = await startPebble({ env: { PEBBLE_VA_NOSLEEP: '1' } });
  const directoryCaFile = path.join(workDir, 'pebble-tls-ca.pem');
  const rootFile = path.join(workDir, 'pebble-root.pem');
  writeFileSync(directoryCaFile, pebble.tlsCaPem);
  writeFileSync(rootFile, await pebble.rootPem());
  print(`ACME: Pebble (Let's Encrypt's test CA) at ${pebble.directoryUrl}; contoso's shop certificate renews through it with HTTP-01`);
  return { pebble, acme: { directoryUrl: pebble.directoryUrl, directoryCaFile, rootFile, httpChallengePort: pebble.httpChallengePort } };
}

function onPath(command: string): boolean {
  return (process.env.PATH ?? '').split(path.delimiter).some((dir) => dir && existsSync(path.join(dir, command)));
}

async function servedFingerprints(world: DemoWorld, names = world.managedEndpoints): Promise<Map<string, string>> {
  const prober = new TlsProber();
  const result = new Map<string, string>();
  for (const name of names) {
    const { address, port } = world.fleet.endpoint(name);
    const r = await prober.probe({ address, port, servername: undefined, connectTimeoutMs: 1000, handshakeTimeoutMs: 2000 });
    result.set(name, r.ok ? createHash('sha256').update(r.chain[0]).digest('hex') : `error ${r.error.code}`);
  }
  return result;
}

function short(fp: string | undefined): string {
  return fp ? fp.slice(0, 16) : '-';
}

function lines(file: string | null): number {
  if (!file) return 0;
  try {
    return readFileSync(file, 'utf8').split('\n').filter(Boolean).length;
  } catch {
    return 0;
  }
}
