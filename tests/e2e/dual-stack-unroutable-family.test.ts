/**
 * Issue 11, defect 8: dual-stack false alarms. A host with an A and an AAAA record, swept from a
 * machine with no IPv6 route, must not be reported as an outage because certops cannot reach its
 * IPv6 address: that is a note about certops' own network, not about the endpoint. A real outage
 * (the IPv4 address refusing connections) is still critical, and so is an endpoint certops cannot
 * route to at all: it cannot be checked.
 *
 * Staged for real: the sweep runs in a network namespace with loopback only (runWithoutRoutes), a
 * TLS server on 127.0.0.7 serves a good certificate, and the resolver answers each name with IPv4
 * loopback addresses and addresses from the documentation prefixes (2001:db8::/32, 192.0.2.0/24),
 * for which the kernel has no route there: a connect fails at once with ENETUNREACH, nothing leaves
 * the machine.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Finding } from '../../shared/domain/finding';
import type { InventoryRow } from '../../shared/pipeline/inventory';
import { runWithoutRoutes } from '../support/network-namespace';
import type { NoRouteSweepJob, NoRouteSweepResult } from '../support/no-route-sweep-child';
import { aCA, aCertificate, TEST_NOW } from '../support/x509-builders';

jest.setTimeout(90_000);

const CHILD = path.resolve(__dirname, '../support/no-route-sweep-child.ts');

let dir: string;
let result: NoRouteSweepResult;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'certops-dual-stack-'));
  const ca = await aCA();
  const leaf = await aCertificate({ daysLeft: 300, dnsNames: ['dual.acme.test', 'refused.acme.test', 'v6only.acme.test', 'nowhere.acme.test'], issuer: ca });
  const file = (name: string, content: string): string => (writeFileSync(path.join(dir, name), content), path.join(dir, name));
  const job: NoRouteSweepJob = {
    dir,
    now: TEST_NOW.toISOString(),
    server: { address: '127.0.0.7', certFile: file('cert.pem', leaf.pem + ca.pem), keyFile: file('key.pem', leaf.key.privateKeyPem) },
    caFile: file('ca.pem', ca.pem),
    endpoints: [
      // Serves a good certificate on IPv4; its AAAA is unroutable from certops.
      { host: 'dual.acme.test', addresses: ['127.0.0.7', '2001:db8::7'] },
      // Nothing listens on 127.0.0.8 (the server's port there is refused); its AAAA is unroutable.
      { host: 'refused.acme.test', addresses: ['127.0.0.8', '2001:db8::8'] },
      // IPv6 only, swept from a host without IPv6: certops sees nothing of it.
      { host: 'v6only.acme.test', addresses: ['2001:db8::9'] },
      // Every address of both families unroutable from here.
      { host: 'nowhere.acme.test', addresses: ['192.0.2.10', '2001:db8::10'] },
    ],
  };
  writeFileSync(path.join(dir, 'job.json'), JSON.stringify(job));
  const run = await runWithoutRoutes(CHILD, [path.join(dir, 'job.json')], { timeoutMs: 80_000 });
  result = JSON.parse(run.stdout.trim().split('\n').pop()!) as NoRouteSweepResult;
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function rowsOf(host: string): InventoryRow[] {
  const rows = result.inventory.filter((r) => r.endpoint.startsWith(`${host}:`));
  if (rows.length === 0) throw new Error(`no inventory row for ${host}`);
  return rows;
}
function rowAt(host: string, address: string): InventoryRow {
  const row = rowsOf(host).find((r) => r.address === address);
  if (!row) throw new Error(`no inventory row for ${host} at ${address}`);
  return row;
}
const findingsOf = (host: string): Finding[] => rowsOf(host).flatMap((r) => r.findings);
const notificationsOf = (host: string) => result.notifications.filter((n) => n.subject.endpoint?.startsWith(`${host}:`));

describe('When a host answers on IPv4 and also has an AAAA address certops has no route to', () => {
  it('then its IPv4 address is observed healthy with the certificate it serves', () => {
    expect(rowAt('dual.acme.test', '127.0.0.7')).toMatchObject({ status: 'healthy', sans: expect.arrayContaining(['dual.acme.test']) });
  });

  it('then the endpoint raises no endpoint-unreachable and no warning or critical finding', () => {
    const findings = findingsOf('dual.acme.test');
    expect(findings.map((f) => f.code)).not.toContain('endpoint-unreachable');
    expect(findings.filter((f) => f.severity !== 'info')).toEqual([]);
  });

  it('then the IPv6 address carries an informational note naming the address and its family', () => {
    const notes = rowAt('dual.acme.test', '2001:db8::7').findings;
    expect(notes).toEqual([
      expect.objectContaining({ code: 'address-unroutable', severity: 'info', detail: expect.objectContaining({ address: '2001:db8::7', family: 'IPv6' }) }),
    ]);
    expect(notes[0].message).toMatch(/2001:db8::7/);
    expect(notes[0].message).toMatch(/no IPv6 route/);
  });

  it('then nobody is notified: a healthy endpoint with only a note is not news', () => {
    expect(notificationsOf('dual.acme.test')).toEqual([]);
  });
});

describe('When the IPv4 address refuses connections and the AAAA address is unroutable', () => {
  it('then the refusal is a critical connection-refused, told as critical', () => {
    expect(rowAt('refused.acme.test', '127.0.0.8').findings).toEqual([expect.objectContaining({ code: 'connection-refused', severity: 'critical' })]);
    expect(notificationsOf('refused.acme.test').map((n) => n.severity)).toEqual(['critical']);
  });

  it('then the unroutable IPv6 address is only a note beside it, not a second outage', () => {
    expect(rowAt('refused.acme.test', '2001:db8::8').findings).toEqual([expect.objectContaining({ code: 'address-unroutable', severity: 'info' })]);
  });
});

describe.each([
  ['an IPv6-only host swept from a host without IPv6', 'v6only.acme.test', ['2001:db8::9']],
  ['a host whose every address, of both families, is unroutable', 'nowhere.acme.test', ['192.0.2.10', '2001:db8::10']],
])('When certops has no route to any address of %s', (_case, host, addresses) => {
  it('then every address is a critical endpoint-unreachable saying certops has no route to it', () => {
    for (const address of addresses) {
      const findings = rowAt(host, address).findings;
      expect(findings).toEqual([expect.objectContaining({ code: 'endpoint-unreachable', severity: 'critical' })]);
      expect(findings[0].message).toMatch(/certops has no (IPv4|IPv6) route/);
    }
  });

  it('then it is told as critical: certops cannot check it', () => {
    expect(notificationsOf(host).map((n) => n.severity)).toEqual(['critical']);
  });
});
