/**
 * The load generator of the rotation load test: a process of its own (forked with the tsx loader)
 * that opens fresh TLS connections at a steady rate to every target, alternating a bare handshake
 * and an HTTPS GET, and records every attempt. Driven over IPC:
 *
 *   parent → { kind: 'start', targets, servername, caPems, attemptsPerSecond, timeoutMs }
 *   child  → { kind: 'started', at }
 *   parent → { kind: 'stop' }     (no new attempts; the ones in flight finish)
 *   child  → { kind: 'report', attempts }
 *
 * Every attempt is a new tls.connect (or an https request with `agent: false`) with no session to
 * resume, so each one is a full handshake that shows the certificate the server serves right now.
 * Chains are verified against `caPems` with the servername as the host name: a wrong or
 * incomplete chain counts as a failure, not just a refused connection.
 *
 * The schedule is open-loop: attempt k starts at k / rate seconds whatever the earlier attempts
 * are doing, so a slow server cannot slow the load down and hide its stalls. The child exits when
 * its parent's IPC channel closes.
 */
import { createHash } from 'node:crypto';
import * as https from 'node:https';
import * as tls from 'node:tls';

export interface LoadTarget {
  /** Label reported with each attempt, e.g. 'nginx'. */
  name: string;
  port: number;
  /** Default 127.0.0.1. */
  address?: string;
}

export interface LoadStart {
  kind: 'start';
  targets: LoadTarget[];
  servername: string;
  caPems: string[];
  /** Total over all targets and both kinds of attempt. */
  attemptsPerSecond: number;
  timeoutMs: number;
}

export interface Attempt {
  target: string;
  kind: 'handshake' | 'https';
  /** Wall clock (Date.now()) when the connection was opened. */
  startedAtMs: number;
  durationMs: number;
  ok: boolean;
  error?: string;
  /** SHA-256 of the served leaf's DER, lowercase hex (certops' fingerprint form). */
  fingerprint256?: string;
}

export type LoadReply = { kind: 'started'; at: number } | { kind: 'report'; attempts: Attempt[] } | { kind: 'error'; message: string };

/** How often the scheduler wakes to start the attempts that are due. */
const TICK_MS = 5;

const attempts: Attempt[] = [];
const inFlight = new Set<Promise<void>>();
let timer: NodeJS.Timeout | undefined;

function send(reply: LoadReply): void {
  process.send?.(reply);
}

function start(request: LoadStart): void {
  const plan = request.targets.flatMap((target) => (['handshake', 'https'] as const).map((kind) => ({ target, kind })));
  const started = Date.now();
  let due = 0;
  const tick = (): void => {
    const wanted = Math.floor(((Date.now() - started) / 1000) * request.attemptsPerSecond);
    for (; due < wanted; due++) {
      const { target, kind } = plan[due % plan.length];
      const run = attempt(request, target, kind).then((a) => void attempts.push(a));
      inFlight.add(run);
      void run.finally(() => inFlight.delete(run));
    }
  };
  timer = setInterval(tick, TICK_MS);
  send({ kind: 'started', at: started });
}

function attempt(request: LoadStart, target: LoadTarget, kind: Attempt['kind']): Promise<Attempt> {
  const startedAtMs = Date.now();
  const t0 = performance.now();
  const options = {
    host: target.address ?? '127.0.0.1',
    port: target.port,
    servername: request.servername,
    ca: request.caPems,
    rejectUnauthorized: true,
  };
  return new Promise<Attempt>((resolve) => {
    let settled = false;
    const finish = (outcome: { ok: boolean; error?: string; fingerprint256?: string }): void => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      resolve({ target: target.name, kind, startedAtMs, durationMs: Math.round((performance.now() - t0) * 10) / 10, ...outcome });
    };
    const deadline = setTimeout(() => {
      finish({ ok: false, error: `no answer within ${request.timeoutMs} ms` });
      socket?.destroy();
      req?.destroy();
    }, request.timeoutMs);
    let socket: tls.TLSSocket | undefined;
    let req: ReturnType<typeof https.request> | undefined;
    if (kind === 'handshake') {
      socket = tls.connect(options, () => {
        const fingerprint256 = leafFingerprint(socket!);
        socket!.end();
        finish({ ok: true, fingerprint256 });
      });
      socket.on('error', (err) => finish({ ok: false, error: err.message }));
      return;
    }
    // agent: false → a new connection with no session cache; `connection: close` ends it after one response.
    req = https.request({ ...options, agent: false, path: '/', headers: { host: request.servername } }, (res) => {
      const fingerprint256 = leafFingerprint(res.socket as tls.TLSSocket);
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => {
        if (res.statusCode === 200 && body.length > 0) finish({ ok: true, fingerprint256 });
        else finish({ ok: false, error: `HTTP ${res.statusCode} (${body.length} bytes)`, fingerprint256 });
      });
      res.on('error', (err) => finish({ ok: false, error: err.message, fingerprint256 }));
    });
    req.on('error', (err) => finish({ ok: false, error: err.message }));
    req.end();
  });
}

function leafFingerprint(socket: tls.TLSSocket): string | undefined {
  const raw = socket.getPeerCertificate()?.raw;
  return raw ? createHash('sha256').update(raw).digest('hex') : undefined;
}

async function stop(): Promise<void> {
  if (timer) clearInterval(timer);
  await Promise.all([...inFlight]);
  send({ kind: 'report', attempts });
}

process.on('message', (message: LoadStart | { kind: 'stop' }) => {
  if (message.kind === 'start') start(message);
  else stop().catch((err: unknown) => send({ kind: 'error', message: err instanceof Error ? err.message : String(err) }));
});
process.on('disconnect', () => process.exit(0));
