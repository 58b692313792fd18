/**
 * The ceiling every discovery figure is compared with: bare `tls.connect` handshakes, no session
 * reuse, no verification, nothing read but the handshake's completion. One client SecureContext
 * is shared (as TlsProber does), so the loop measures handshakes, not context construction.
 */
import * as tls from 'node:tls';

export interface HandshakeTarget {
  port: number;
  servername?: string;
}

/** Runs `work` over `items` with at most `concurrency` in flight; resolves when all are done. */
export async function runPool<T>(items: readonly T[], concurrency: number, work: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) await work(items[next++]);
  });
  await Promise.all(lanes);
}

/** Full handshakes with every target at `concurrency`; returns how many completed. */
export async function bareHandshakes(targets: readonly HandshakeTarget[], concurrency: number): Promise<number> {
  const secureContext = tls.createSecureContext();
  let ok = 0;
  await runPool(targets, concurrency, (target) =>
    new Promise<void>((resolve) => {
      const socket = tls.connect({ host: '127.0.0.1', port: target.port, servername: target.servername, secureContext, rejectUnauthorized: false });
      const done = (): void => {
        socket.destroy();
        resolve();
      };
      socket.once('secureConnect', () => {
        ok += 1;
        done();
      });
      socket.once('error', done);
      socket.once('close', done);
    }),
  );
  return ok;
}
