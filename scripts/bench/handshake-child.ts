/**
 * The sweep's peer: the same handshakes as a bare tls.connect loop, in a fresh process of its own
 * so that its peak memory compares with the sweep's.
 *
 *   parent → { kind: 'handshakes', targets: [{ port, servername }], concurrency }
 *   child  → { kind: 'shaken', ok, wallMs, maxRssMB }
 */
import { performance } from 'node:perf_hooks';
import { bareHandshakes, type HandshakeTarget } from './handshakes';
import { peakRssMB } from './memory';

export interface HandshakeRequest {
  kind: 'handshakes';
  targets: HandshakeTarget[];
  concurrency: number;
}

export interface HandshakeFigures {
  kind: 'shaken';
  ok: number;
  wallMs: number;
  maxRssMB: number;
}

process.on('message', (message: HandshakeRequest) => {
  if (message.kind !== 'handshakes') return;
  const started = performance.now();
  bareHandshakes(message.targets, message.concurrency).then(
    (ok) => {
      const figures: HandshakeFigures = {
        kind: 'shaken',
        ok,
        wallMs: Math.round(performance.now() - started),
        maxRssMB: peakRssMB(),
      };
      process.send?.(figures);
    },
    (err: unknown) => process.send?.({ kind: 'error', message: String(err) }),
  );
});
process.on('disconnect', () => process.exit(0));
