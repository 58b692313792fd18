/** The parent's handle on the fleet child (fleet-child.ts). */
import { startChild } from './child';
import type { FleetReply } from './fleet-child';

export interface Fleet {
  ports: number[];
  /** RSS of the child right after its servers started, in MB. */
  startRssMB: number;
  stats(): Promise<{ connections: number; maxRssMB: number }>;
  stop(): Promise<void>;
}

/** Starts one TLS server per entry of `servers`, each serving the given leaves of `leafFile` by SNI. */
export async function startFleet(leafFile: string, servers: Array<{ leaves: number[] }>): Promise<Fleet> {
  const child = startChild('fleet-child.ts');
  try {
    const ready = await child.ask<Extract<FleetReply, { kind: 'ready' }>>({ kind: 'start', leafFile, servers }, 'ready');
    return {
      ports: ready.ports,
      startRssMB: ready.rssMB,
      stats: () => child.ask<Extract<FleetReply, { kind: 'stats' }>>({ kind: 'stats' }, 'stats'),
      stop: () => child.stop(),
    };
  } catch (err) {
    await child.stop();
    throw err;
  }
}
