/**
 * Verification by handshake (pipeline/served-verification.ts) with an address certops' host has no
 * route to (review of defect 8): discovery calls it a note, so a rotation must not fail on it
 * either, as long as another address of the endpoint proves the new certificate. The prober and the
 * resolver here are in-memory (the real prober's `no-route` is proven in namespaces by
 * tests/contract/tls-prober.test.ts).
 */
import { createHash } from 'node:crypto';
import { checkServed } from '../../shared/pipeline/served-verification';
import type { EndpointRef } from '../../shared/pipeline/event-data';
import type { PipelineDeps } from '../../shared/pipeline/stage';
import type { ProbeResult } from '../../shared/ports/prober';

const NEW = Buffer.from('the new certificate');
const NEW_FINGERPRINT = createHash('sha256').update(NEW).digest('hex');
const endpoint: EndpointRef = { endpointId: 'dual.acme.test:443', host: 'dual.acme.test', port: 443, servername: 'dual.acme.test', managedCertificateId: 'web' };

function depsAnswering(answers: Record<string, ProbeResult>): PipelineDeps {
  return {
    resolver: { resolve: async () => Object.keys(answers) },
    prober: { probe: async (r: { address: string }) => answers[r.address] },
    discovery: { concurrency: 1, connectTimeoutMs: 100, handshakeTimeoutMs: 100 },
  } as unknown as PipelineDeps;
}
const serving = (der: Buffer): ProbeResult => ({ ok: true, chain: [der], protocol: 'TLSv1.3', durationMs: 1 });
const failing = (code: 'no-route' | 'connection-refused'): ProbeResult => ({ ok: false, error: { code, message: code }, durationMs: 1 });

describe('checkServed', () => {
  it.each<{ name: string; answers: Record<string, ProbeResult>; ok: boolean; verified: string[]; unroutable: string[] }>([
    { name: 'the IPv4 address serves the new certificate and the AAAA address has no route from here', answers: { '127.0.0.7': serving(NEW), '2001:db8::7': failing('no-route') }, ok: true, verified: ['127.0.0.7'], unroutable: ['2001:db8::7'] },
    { name: 'the IPv4 address refuses and the AAAA address has no route', answers: { '127.0.0.7': failing('connection-refused'), '2001:db8::7': failing('no-route') }, ok: false, verified: [], unroutable: ['2001:db8::7'] },
    { name: 'no address of the endpoint has a route from here (nothing proves it)', answers: { '2001:db8::7': failing('no-route') }, ok: false, verified: [], unroutable: [] },
    { name: 'the IPv4 address still serves the old certificate', answers: { '127.0.0.7': serving(Buffer.from('old')), '2001:db8::7': failing('no-route') }, ok: false, verified: [], unroutable: ['2001:db8::7'] },
  ])('When $name, then ok is $ok', async ({ answers, ok, verified, unroutable }) => {
    const check = await checkServed(depsAnswering(answers), [endpoint], NEW_FINGERPRINT);
    expect(check.ok).toBe(ok);
    expect(check.verified.map((v) => v.address)).toEqual(verified);
    expect((check.unroutable ?? []).map((u) => u.address)).toEqual(unroutable);
  });
});
