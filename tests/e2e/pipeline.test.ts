/**
 * The whole pipeline on one machine against real TLS servers (the demo's world: two tenants,
 * certificates generated at test time in every state an MSP meets), with the real SQLite store,
 * bus and audit, the real local CA, files deployment with real reloads, and a real signed webhook.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createHash, X509Certificate } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import Database from 'better-sqlite3';
import { createEmbeddedRuntime, type EmbeddedRuntime } from '../../shared/composition-root';
import { buildDemoWorld, type DemoWorld } from '../../shared/demo/demo-fleet';
import { startWebhookReceiver, type WebhookReceiver } from '../../shared/demo/webhook-receiver';
import { createLogger } from '../../shared/observability/logger';
import { StaticResolver } from '../../shared/adapters/tls/system-resolver';
import { TlsProber } from '../../shared/adapters/tls/tls-prober';
import { inventory, type InventoryRow } from '../../shared/pipeline/inventory';
import type { Notification } from '../../shared/ports/notifier';
import { main } from '../../shared/cli/main';
import { canonicalJson, hashAuditRecord } from '../../shared/domain/audit-chain';

jest.setTimeout(60_000);

const SECRET_ENV = 'CERTOPS_E2E_WEBHOOK_SECRET';
const secret = 'e2e-webhook-secret-0123456789';

let workDir: string;
let world: DemoWorld;
let receiver: WebhookReceiver;
let runtime: EmbeddedRuntime;
let before: Map<string, string>;

function outbox(): Notification[] {
  return readFileSync(runtime.outboxFile!, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Notification);
}

async function served(name: string): Promise<Buffer> {
  const { address, port } = world.fleet.endpoint(name);
  const r = await new TlsProber().probe({ address, port, connectTimeoutMs: 1000, handshakeTimeoutMs: 2000 });
  if (!r.ok) throw new Error(`${name}: ${r.error.message}`);
  return r.chain[0];
}

const sha256 = (der: Buffer) => createHash('sha256').update(der).digest('hex');

function row(rows: InventoryRow[], endpointPrefix: string, address?: string): InventoryRow {
  const found = rows.filter((r) => r.endpoint.startsWith(`${endpointPrefix}:`) && (address === undefined || r.address === address));
  if (found.length !== 1) throw new Error(`expected one row for ${endpointPrefix} ${address ?? ''}, found ${found.length}`);
  return found[0];
}

beforeAll(async () => {
  workDir = mkdtempSync(path.join(os.tmpdir(), 'certops-e2e-'));
  receiver = await startWebhookReceiver(secret);
  world = await buildDemoWorld(workDir, new Date(), { url: receiver.url, secretEnv: SECRET_ENV });
  runtime = createEmbeddedRuntime(world.config, {
    logger: createLogger({ level: 'silent' }),
    env: { [SECRET_ENV]: secret },
    consoleStream: new Writable({ write: (_c, _e, cb) => cb() }),
    resolver: new StaticResolver(world.hosts),
  });
  before = new Map();
  for (const name of world.managedEndpoints) before.set(name, sha256(await served(name)));
  runtime.pipeline.start();
  await runtime.pipeline.sweep({ reason: 'e2e' });
});

afterAll(async () => {
  await runtime?.close();
  await world?.fleet.close();
  await receiver?.close();
  rmSync(workDir, { recursive: true, force: true });
});

describe('When the first sweep runs over two tenants', () => {
  it('then every endpoint is discovered at every address its name resolves to', async () => {
    const rows = await inventory(runtime.deps.store);
    expect(rows.map((r) => `${r.tenant} ${r.endpoint.split(':')[0]} ${r.address}`).sort()).toEqual(
      [
        'contoso api.contoso.test 127.0.0.5',
        'contoso api.contoso.test 127.0.0.6',
        'contoso legacy.contoso.test 127.0.0.4',
        'contoso shop.contoso.test 127.0.0.3',
        'contoso www.contoso.test 127.0.0.2',
        'fabrikam ghost.fabrikam.test ',
        'fabrikam intranet.fabrikam.test 127.0.0.8',
        'fabrikam mail.fabrikam.test 127.0.0.7',
        'fabrikam old.fabrikam.test 127.0.0.12',
        'fabrikam portal-eu.fabrikam.test 127.0.0.11',
        'fabrikam portal.fabrikam.test 127.0.0.10',
        'fabrikam vpn.fabrikam.test 127.0.0.9',
      ].sort(),
    );
  });

  // What sweep 1 saw, before any rotation (the observations are from the discovery).
  it.each([
    ['a healthy certificate', 'www.contoso.test', '127.0.0.2', 'healthy', []],
    ['a certificate expiring in 3 days', 'shop.contoso.test', '127.0.0.3', 'critical', []],
    ['an expired certificate', 'legacy.contoso.test', '127.0.0.4', 'expired', []],
    ['the first of two addresses that disagree', 'api.contoso.test', '127.0.0.5', 'healthy', ['addresses-disagree']],
    ['the second of two addresses that disagree', 'api.contoso.test', '127.0.0.6', 'renewal-due', ['addresses-disagree']],
    ['a certificate for the wrong host', 'mail.fabrikam.test', '127.0.0.7', 'healthy', ['hostname-mismatch']],
    ['a self-signed certificate', 'intranet.fabrikam.test', '127.0.0.8', 'healthy', ['self-signed']],
    ['an RSA-1024 key', 'vpn.fabrikam.test', '127.0.0.9', 'healthy', ['weak-key']],
    ['one certificate on two endpoints (first)', 'portal.fabrikam.test', '127.0.0.10', 'renewal-due', ['shared-certificate']],
    ['one certificate on two endpoints (second)', 'portal-eu.fabrikam.test', '127.0.0.11', 'renewal-due', ['shared-certificate']],
    ['a refused port', 'old.fabrikam.test', '127.0.0.12', 'unobserved', ['connection-refused']],
    ['a name that does not resolve', 'ghost.fabrikam.test', '', 'unobserved', ['name-resolution-failed']],
  ])('then %s (%s at %s) is %s with findings %j', async (_case, host, address, status, findings) => {
    // The status each address had when sweep 1 analyzed it (its audit record), the findings from the inventory.
    const audit = await runtime.deps.audit.list(host.includes('contoso') ? 'contoso' : 'fabrikam');
    const analyzed = audit.find((r) => r.kind === 'endpoint.analyzed' && String(r.data.endpointId).startsWith(`${host}:`));
    expect(analyzed).toBeDefined();
    const addressStatus = (analyzed!.data.addresses as Array<{ address: string; status: string | null }>).find((a) => a.address === address);
    expect(addressStatus?.status ?? 'unobserved').toBe(status);
    const rows = await inventory(runtime.deps.store);
    expect(row(rows, host, address).findings.map((f) => f.code).sort()).toEqual([...findings].sort());
  });

  it('then the managed certificates that needed it were gated at L1 (act, then tell the assigned human)', async () => {
    const decisions = [...(await runtime.deps.audit.list('contoso')), ...(await runtime.deps.audit.list('fabrikam'))]
      .filter((r) => r.kind === 'gate.decided')
      .map((r) => ({ certificate: r.data.certificateId, level: r.data.level, outcome: r.data.outcome, tell: (r.data.tell as { name: string }).name }));
    expect(decisions.sort((a, b) => String(a.certificate).localeCompare(String(b.certificate)))).toEqual([
      { certificate: 'mail', level: 'L1', outcome: 'proceed', tell: 'Bob Okafor' },
      { certificate: 'portal', level: 'L1', outcome: 'proceed', tell: 'Bob Okafor' },
      { certificate: 'shop', level: 'L1', outcome: 'proceed', tell: 'Alice Nguyen' },
    ]);
  });

  it('then the rotated servers serve a new certificate for the configured names from certops\' CA, and the healthy one is untouched', async () => {
    for (const [name, names] of [
      ['shop.contoso', ['shop.contoso.test']],
      ['mail.fabrikam', ['mail.fabrikam.test']],
      ['portal.fabrikam', ['portal.fabrikam.test', 'portal-eu.fabrikam.test']],
      ['portal-eu.fabrikam', ['portal.fabrikam.test', 'portal-eu.fabrikam.test']],
    ] as const) {
      const der = await served(name);
      expect(sha256(der)).not.toBe(before.get(name));
      const cert = new X509Certificate(der);
      expect(cert.subjectAltName).toBe(names.map((n) => `DNS:${n}`).join(', '));
      expect(cert.issuer).toMatch(/certops local CA/);
    }
    expect(sha256(await served('www.contoso'))).toBe(before.get('www.contoso'));
    expect(sha256(await served('portal.fabrikam'))).toBe(sha256(await served('portal-eu.fabrikam')));
  });

  it('then each change of state was told once, on the outbox and the signed webhook alike', () => {
    const sent = outbox();
    expect(sent.map((n) => `${n.kind} ${n.subject.endpoint ?? n.subject.certificateId}`).sort()).toEqual(
      [
        `certificate-state-changed api.contoso.test:${world.port}`,
        `certificate-state-changed ghost.fabrikam.test:${world.port}`,
        `certificate-state-changed intranet.fabrikam.test:${world.port}`,
        `certificate-state-changed legacy.contoso.test:${world.port}`,
        `certificate-state-changed old.fabrikam.test:${world.port}`,
        `certificate-state-changed vpn.fabrikam.test:${world.port}`,
        'rotation-completed mail',
        'rotation-completed portal',
        'rotation-completed shop',
      ].sort(),
    );
    expect(sent.find((n) => n.kind === 'rotation-completed' && n.subject.certificateId === 'shop')!.to.name).toBe('Alice Nguyen');
    expect(receiver.badSignatures).toBe(0);
    expect((receiver.received as Notification[]).map((n) => n.id).sort()).toEqual(sent.map((n) => n.id).sort());
  });
});

describe('When a second sweep finds nothing changed', () => {
  it('then nobody is told anything, and the rotated endpoints are healthy without findings', async () => {
    const count = outbox().length;
    await runtime.pipeline.sweep({ reason: 'e2e second look' });
    expect(outbox()).toHaveLength(count);
    expect(receiver.received).toHaveLength(count);
    const rows = await inventory(runtime.deps.store);
    for (const host of ['shop.contoso.test', 'mail.fabrikam.test']) {
      expect(row(rows, host)).toMatchObject({ status: 'healthy', findings: [] });
    }
    expect(row(rows, 'portal.fabrikam.test').findings.map((f) => f.code)).toEqual(['shared-certificate']);
    expect(await runtime.bus.deadLetters()).toEqual([]);
  });

  it('and when one endpoint then changes state, exactly one notification follows', async () => {
    // api.contoso.test's second address now serves the first address's certificate.
    const dir = (name: string) => path.join(workDir, 'servers', name);
    copyFileSync(path.join(dir('api-a.contoso'), 'cert.pem'), path.join(dir('api-b.contoso'), 'cert.pem'));
    copyFileSync(path.join(dir('api-a.contoso'), 'key.pem'), path.join(dir('api-b.contoso'), 'key.pem'));
    await world.fleet.reload('api-b.contoso');
    const count = outbox().length;
    await runtime.pipeline.sweep({ reason: 'e2e after a change' });
    const added = outbox().slice(count);
    expect(added).toHaveLength(1);
    expect(added[0]).toMatchObject({ kind: 'certificate-state-changed', subject: { endpoint: `api.contoso.test:${world.port}` }, severity: 'info' });
    expect(added[0].title).toMatch(/healthy again/);
  });
});

describe('The audit trail', () => {
  it('verifies, and altering one stored record makes `certops audit verify` fail naming that record', async () => {
    const configFile = path.join(workDir, 'certops.json');
    const { webhook: _w, ...notifications } = world.config.notifications;
    writeFileSync(configFile, JSON.stringify({ ...world.config, notifications }));
    const run = async (...args: string[]) => {
      let text = '';
      const out = new Writable({ write: (c, _e, cb) => ((text += String(c)), cb()) });
      const code = await main(args, out);
      return { code, text };
    };
    const intact = await run('audit', 'verify', '--config', configFile);
    expect(intact.code).toBe(0);
    expect(intact.text).toMatch(/audit contoso: \d+ records, chain intact/);
    expect(intact.text).toMatch(/audit fabrikam: \d+ records, chain intact/);

    const db = new Database(runtime.databaseFile);
    db.prepare(`UPDATE audit_records SET data = json_set(data, '$.level', 'L0') WHERE tenant_id = 'fabrikam' AND kind = 'gate.decided' AND seq = (SELECT MIN(seq) FROM audit_records WHERE tenant_id = 'fabrikam' AND kind = 'gate.decided')`).run();
    const seq = (db.prepare(`SELECT MIN(seq) AS seq FROM audit_records WHERE tenant_id = 'fabrikam' AND kind = 'gate.decided'`).get() as { seq: number }).seq;
    db.close();

    const tampered = await run('audit', 'verify', '--config', configFile);
    expect(tampered.code).toBe(1);
    expect(tampered.text).toMatch(/audit contoso: \d+ records, chain intact/);
    expect(tampered.text).toContain(`audit fabrikam: TAMPERED: record ${seq} of tenant fabrikam was altered`);
  });

  it('names the altered record even when the forger re-hashes it (the chain is keyed by the master key, which the database does not hold)', async () => {
    const configFile = path.join(workDir, 'certops.json');
    const victim = (await runtime.deps.audit.list('contoso')).find((r) => r.kind === 'gate.decided')!;
    const forged = { ...victim, data: { ...victim.data, level: 'L0' } };
    const { hash: _old, ...content } = forged;
    const db = new Database(runtime.databaseFile);
    db.prepare(`UPDATE audit_records SET data = ?, hash = ? WHERE tenant_id = 'contoso' AND seq = ?`).run(canonicalJson(forged.data), hashAuditRecord(content), victim.seq);
    db.close();
    let text = '';
    const code = await main(['audit', 'verify', '--config', configFile, '--tenant', 'contoso'], new Writable({ write: (c, _e, cb) => ((text += String(c)), cb()) }));
    expect(code).toBe(1);
    expect(text).toContain(`audit contoso: TAMPERED: record ${victim.seq} of tenant contoso was altered`);
  });
});
