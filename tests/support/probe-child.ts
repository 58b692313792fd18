/**
 * One TlsProber probe, for the contract tests that must run where certops has no route (started
 * through runWithoutRoutes, tests/support/network-namespace.ts).
 * Usage: node --import tsx probe-child.ts '<ProbeRequest as JSON>'
 * Prints the result as one JSON line, with the chain's length in place of the chain.
 */
import { TlsProber } from '../../shared/adapters/tls/tls-prober';
import type { ProbeRequest } from '../../shared/ports/prober';

export type ProbeChildResult = { ok: true; chainLength: number; durationMs: number } | { ok: false; error: { code: string; message: string }; durationMs: number };

async function main(): Promise<void> {
  const request = JSON.parse(process.argv[2]) as ProbeRequest;
  const result = await new TlsProber().probe(request);
  const printed: ProbeChildResult = result.ok ? { ok: true, chainLength: result.chain.length, durationMs: result.durationMs } : result;
  process.stdout.write(`${JSON.stringify(printed)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`probe-child: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
