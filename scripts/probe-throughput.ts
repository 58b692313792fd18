/**
 * Discovery throughput: probes/second through TlsProber vs a bare tls.connect loop, at the same
 * concurrency over the same 200 endpoints. The fleet runs in a child process (so server handshakes
 * use the other core). Every handshake is a fresh one: neither side resumes.
 *
 *   npx tsx scripts/probe-throughput.ts [--concurrency 48] [--seconds 5] [--servers 200] [--rounds 2]
 */
import { fork } from 'node:child_process';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { performance } from 'node:perf_hooks';
import { TlsProber } from '../shared/adapters/tls/tls-prober';

interface Endpoint {
  address: string;
  port: number;
  servername: string;
}
type Attempt = (endpoint: Endpoint) => Promise<boolean>;

function option(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 ? Number(process.argv[at + 1]) : fallback;
}

/** Runs `attempt` over the endpoints round-robin with `concurrency` in flight for `seconds`. */
async function measure(endpoints: Endpoint[], attempt: Attempt, concurrency: number, seconds: number) {
  let next = 0;
  let ok = 0;
  let failed = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  const worker = async (): Promise<void> => {
    while (performance.now() < deadline) {
      if (await attempt(endpoints[next++ % endpoints.length])) ok++;
      else failed++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsed = (performance.now() - started) / 1000;
  return { perSecond: ok / elapsed, ok, failed };
}

/** The reference: tls.connect and hang up on secureConnect, nothing else. */
function bareConnect(secureContext?: tls.SecureContext): Attempt {
  return (e) =>
    new Promise((resolve) => {
      const socket = tls.connect({ host: e.address, port: e.port, servername: e.servername, rejectUnauthorized: false, secureContext }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => (socket.destroy(), resolve(false)));
    });
}

function viaProber(prober: TlsProber): Attempt {
  return async (e) => {
    const result = await prober.probe({ address: e.address, port: e.port, servername: e.servername, connectTimeoutMs: 5000, handshakeTimeoutMs: 5000 });
    return result.ok && result.chain.length === 2;
  };
}

async function main(): Promise<void> {
  const concurrency = option('concurrency', 48);
  const seconds = option('seconds', 5);
  const rounds = option('rounds', 2);
  const child = fork(path.join(__dirname, 'tls-fleet-server.ts'), [String(option('servers', 200))], { execArgv: ['--import', 'tsx'] });
  const endpoints = await new Promise<Endpoint[]>((resolve, reject) => {
    child.once('message', (m) => resolve((m as { endpoints: Endpoint[] }).endpoints));
    child.once('exit', (code) => reject(new Error(`fleet child exited with ${code}`)));
  });
  console.log(`fleet: ${endpoints.length} servers in child ${child.pid}; concurrency ${concurrency}; ${seconds} s per run, ${rounds} rounds`);

  const shared = tls.createSecureContext({});
  const contenders: Record<string, Attempt> = {
    'bare tls.connect': bareConnect(),
    'bare tls.connect, shared SecureContext': bareConnect(shared),
    TlsProber: viaProber(new TlsProber()),
  };
  await measure(endpoints, contenders.TlsProber, concurrency, 1); // warm-up (JIT, server caches)
  const best: Record<string, number> = {};
  for (let round = 1; round <= rounds; round++) {
    for (const [name, attempt] of Object.entries(contenders)) {
      const r = await measure(endpoints, attempt, concurrency, seconds);
      best[name] = Math.max(best[name] ?? 0, r.perSecond);
      console.log(`round ${round}  ${name.padEnd(40)} ${r.perSecond.toFixed(0).padStart(6)} /s  (${r.ok} ok, ${r.failed} failed)`);
    }
  }
  const reference = Math.max(best['bare tls.connect'], best['bare tls.connect, shared SecureContext']);
  console.log(`best: ${Object.entries(best).map(([n, v]) => `${n} ${v.toFixed(0)}/s`).join('; ')}`);
  console.log(`TlsProber reaches ${((best.TlsProber / reference) * 100).toFixed(0)}% of the faster bare loop (target ≥ 60%; nmap ssl-cert reference ~480 endpoints/s)`);
  child.send('close');
  await new Promise((r) => child.once('exit', r));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
