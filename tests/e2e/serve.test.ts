/** `certops serve`: the embedded runtime with its scheduler runs sweeps on the timer's schedule. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { main } from '../../shared/cli/main';
import { TlsFleet } from '../../shared/demo/tls-fleet';
import { aCertificate } from '../support/x509-builders';

jest.setTimeout(30_000);

function capture(): { out: Writable; text: () => string } {
  let text = '';
  return { out: new Writable({ write: (c, _e, cb) => ((text += String(c)), cb()) }), text: () => text };
}

it('When certops serves with a schedule of every second, then sweeps happen on their own and the inventory fills', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'certops-serve-'));
  const leaf = await aCertificate({ dnsNames: ['localhost'] });
  writeFileSync(path.join(dir, 'cert.pem'), leaf.pem);
  writeFileSync(path.join(dir, 'key.pem'), leaf.key.privateKeyPem);
  const fleet = await TlsFleet.start([{ name: 'one', certFile: path.join(dir, 'cert.pem'), keyFile: path.join(dir, 'key.pem') }]);
  try {
    const config = path.join(dir, 'certops.yaml');
    writeFileSync(
      config,
      [
        'sweepSchedule: "* * * * * *"',
        'notifications: { console: false }',
        'hosts: { one.acme.test: [127.0.0.1] }',
        'tenants:',
        '  - id: acme',
        '    assignee: { name: Erin }',
        `    endpoints: [{ host: one.acme.test, port: ${fleet.endpoint('one').port} }]`,
      ].join('\n'),
    );
    const served = capture();
    const stop = new AbortController();
    const running = main(['serve', '--config', config], served.out, { stop: stop.signal });
    await new Promise((r) => setTimeout(r, 2500));
    stop.abort();
    expect(await running).toBe(0);
    expect(served.text()).toMatch(/certops serving 1 tenants; sweeps on "\* \* \* \* \* \*"/);

    const report = capture();
    expect(await main(['report', '--config', config, '--json'], report.out)).toBe(0);
    const rows = JSON.parse(report.text()) as Array<{ endpoint: string; address: string; fingerprint: string | null }>;
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ endpoint: `one.acme.test:${fleet.endpoint('one').port}`, address: '127.0.0.1' });
    expect(rows[0].fingerprint).toBe(leaf.certificate.fingerprintSha256);
  } finally {
    await fleet.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
