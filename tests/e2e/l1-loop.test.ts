/**
 * The L1 loop end to end on one machine: certops renews and deploys a certificate (L1), then tells
 * the assigned human on Teams (a Workflows webhook receiver) and by e-mail (a Microsoft Graph
 * stand-in receiving sendMail); the human, through the HTTP API with a token, overrides (the old
 * certificate is served again, verified by handshake) or escalates (the next renewal waits for
 * approval, and is released by an approval). Ten overrides in a row raise the pair to L2 on their
 * own; a run of accepted actions lowers it again. Tokens for another tenant get 403, bad tokens 401.
 */
import { createHash, generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AccessToken, TokenCredential } from '@azure/core-auth';
import { loadOrCreateLocalSigningKey, mintLocalToken } from '../../shared/api/auth';
import { apiFor } from '../../shared/api/compose';
import { startApiServer, type ApiServer } from '../../shared/api/http-server';
import { StaticResolver } from '../../shared/adapters/tls/system-resolver';
import { TlsProber } from '../../shared/adapters/tls/tls-prober';
import type { TenantConfig } from '../../shared/config/model';
import { createEmbeddedRuntime, type EmbeddedRuntime } from '../../shared/composition-root';
import { TlsFleet } from '../../shared/demo/tls-fleet';
import { fixedClock } from '../../shared/domain/clock';
import { createLogger } from '../../shared/observability/logger';
import { adaptiveCardErrors } from '../support/adaptive-card-schema';
import { aTestConfig } from '../support/config-builders';
import { startGraphStub, type GraphStub } from '../support/graph-stub';
import { startTeamsWorkflowReceiver, type TeamsWorkflowReceiver } from '../support/teams-workflow-receiver';
import { aCA, aCertificate, TEST_NOW } from '../support/x509-builders';

jest.setTimeout(120_000);

const graphCredential: TokenCredential = { getToken: async (): Promise<AccessToken> => ({ token: 'graph-token', expiresOnTimestamp: Date.now() + 3_600_000 }) };

let dir: string;
let fleet: TlsFleet;
let teams: TeamsWorkflowReceiver;
let graph: GraphStub;
let runtime: EmbeddedRuntime;
let api: ApiServer;
const original = new Map<string, string>();
const tokens: Record<string, string> = {};

const files = (name: string) => ({ certFile: path.join(dir, name, 'cert.pem'), keyFile: path.join(dir, name, 'key.pem') });

function aTenant(id: string, server: string): TenantConfig {
  return {
    id,
    assignee: { name: 'Dana', email: `dana@${id}.msp.example` },
    escalation: { name: 'On-call', email: `oncall@${id}.msp.example` },
    trustedCaFiles: [path.join(dir, 'ca.pem')],
    endpoints: [{ host: `${server}.${id}.test`, port: fleet.endpoint(server).port, managed: 'web' }],
    managedCertificates: [{ id: 'web', dnsNames: [`${server}.${id}.test`], issuer: 'local-ca', target: { type: 'files', ...files(server), reload: { url: fleet.reloadUrl(server) } } }],
  };
}

async function call(method: 'GET' | 'POST', route: string, token: string | null, body?: unknown): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const response = await fetch(`${api.url}${route}`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown>, headers: response.headers };
}

async function served(server: string, tenant: string): Promise<string> {
  const { address, port } = fleet.endpoint(server);
  const r = await new TlsProber().probe({ address, port, servername: `${server}.${tenant}.test`, connectTimeoutMs: 1000, handshakeTimeoutMs: 2000 });
  if (!r.ok) throw new Error(r.error.message);
  return createHash('sha256').update(r.chain[0]).digest('hex');
}

const state = (tenant: string) => runtime.deps.store.getManagedState(tenant, 'web');

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'certops-l1-'));
  const ca = await aCA();
  writeFileSync(path.join(dir, 'ca.pem'), ca.pem);
  for (const server of ['acme', 'beta', 'learn']) {
    // acme and beta expire (builders count from TEST_NOW); learn is healthy today, so the sweep only observes it.
    const daysLeft = server === 'learn' ? Math.ceil((Date.now() - TEST_NOW.getTime()) / 86_400_000) + 300 : 2;
    const leaf = await aCertificate({ daysLeft, dnsNames: [`${server}.${server}.test`], issuer: ca });
    mkdirSync(path.join(dir, server));
    writeFileSync(files(server).certFile, leaf.pem + ca.pem);
    writeFileSync(files(server).keyFile, leaf.key.privateKeyPem, { mode: 0o600 });
    original.set(server, leaf.certificate.fingerprintSha256);
  }
  fleet = await TlsFleet.start(['acme', 'beta', 'learn'].map((name) => ({ name, ...files(name) })));
  teams = await startTeamsWorkflowReceiver();
  graph = await startGraphStub();
  const config = aTestConfig(dir, {
    notifications: {
      console: false,
      outboxFile: path.join(dir, 'outbox.jsonl'),
      teams: { urlEnv: 'CERTOPS_TEAMS_URL' },
      email: { sender: 'certops@msp.example', graphBaseUrl: graph.baseUrl },
      actionsBaseUrl: 'https://certops.msp.example',
    },
    api: { auth: { mode: 'local' } },
    tenants: [aTenant('acme', 'acme'), { ...aTenant('beta', 'beta'), policy: { gate: { renew: 'L3', rotate: 'L3' } } }, { ...aTenant('learn', 'learn'), policy: { renewal: { renewBeforeDays: 30 } } }],
  });
  runtime = createEmbeddedRuntime(config, {
    env: { CERTOPS_TEAMS_URL: teams.url },
    graphCredential: () => graphCredential,
    graphFetchOptions: { agent: graph.agent } as never,
    logger: createLogger({ level: 'silent' }),
    consoleStream: null,
    resolver: new StaticResolver({ 'acme.acme.test': ['127.0.0.1'], 'beta.beta.test': ['127.0.0.1'], 'learn.learn.test': ['127.0.0.1'] }),
    rotation: { verifyTimeoutMs: 2_000, verifyInitialDelayMs: 20, verifyMaxDelayMs: 100, verifySettleMs: 0, verifyConfirmations: 1 },
  });
  runtime.pipeline.start();
  api = await startApiServer(apiFor(runtime, { afterPublish: () => runtime.bus.idle() }));
  const { privateKey } = loadOrCreateLocalSigningKey(config.dataDir);
  const mint = (subject: string, roles: string[], extra = {}) => mintLocalToken(privateKey, { subject, name: `${subject}@msp.example`, roles, ttlSeconds: 3600, ...extra });
  tokens.acme = await mint('dana', ['Technician.acme']);
  tokens.learn = await mint('lee', ['Technician.learn']);
  tokens.admin = await mint('ada', ['MspAdmin']);
  tokens.expired = await mint('dana', ['Technician.acme'], { ttlSeconds: 60, clock: fixedClock(new Date(Date.now() - 3_600_000)) });
  tokens.audience = await mint('dana', ['Technician.acme'], { audience: 'another-api' });
  tokens.foreignKey = await mintLocalToken(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey, { subject: 'dana', roles: ['Technician.acme'], ttlSeconds: 3600 });

  // The sweep: acme's certificate expires in 2 days (L1: renewed, then told); beta is L3 (recommended only).
  await runtime.pipeline.sweep({ reason: 'L1 loop' });
});

afterAll(async () => {
  await api?.close();
  await runtime?.close();
  await fleet?.close();
  await teams?.close();
  await graph?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('When certops renews at L1', () => {
  it('then exactly one Teams card reaches the workflow, valid Adaptive Card 1.5, with the evidence and Review, Override, Escalate', () => {
    const cards = teams.received.map((p) => (p.json as { attachments: Array<{ content: { body: unknown[]; actions?: Array<{ title: string; url: string }> } }> }).attachments[0].content);
    const acme = cards.filter((c) => JSON.stringify(c).includes('acme.acme.test'));
    expect(acme).toHaveLength(1);
    expect(adaptiveCardErrors(acme[0])).toEqual([]);
    const text = JSON.stringify(acme[0]);
    expect(text).toContain(original.get('acme')!); // the old fingerprint, in full
    expect((acme[0].actions ?? []).map((a) => [a.title, a.url])).toEqual([
      ['Review', 'https://certops.msp.example/api/tenants/acme/certificates/web/review'],
      ['Override', 'https://certops.msp.example/api/tenants/acme/certificates/web/override'],
      ['Escalate', 'https://certops.msp.example/api/tenants/acme/certificates/web/escalate'],
    ]);
  });

  it('then exactly one e-mail goes out through Graph sendMail to the assignee, in HTML and text, with the same evidence', async () => {
    const mails = graph.mails.filter((m) => m.to.some((t) => t.includes('dana@acme.msp.example')));
    expect(mails).toHaveLength(1);
    expect(mails[0]).toMatchObject({ sender: 'certops@msp.example', format: 'mime', authorization: 'Bearer graph-token' });
    const fresh = (await state('acme'))!.deployedFingerprint!;
    for (const part of [mails[0].text!, mails[0].html!]) {
      expect(part).toContain(fresh);
      expect(part).toContain('https://certops.msp.example/api/tenants/acme/certificates/web/override');
    }
  });
});

describe('When the assignee overrides through the API', () => {
  let answer: Awaited<ReturnType<typeof call>>;
  beforeAll(async () => {
    answer = await call('POST', '/api/tenants/acme/certificates/web/override', tokens.acme, { reason: 'the payment terminal pins the old key' });
  });

  it('then the endpoint serves the old certificate again, verified by handshake', async () => {
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ restoredVerified: true, servedFingerprint: original.get('acme') });
    expect(await served('acme', 'acme')).toBe(original.get('acme'));
    expect((await state('acme'))?.deployedFingerprint).toBe(original.get('acme'));
  });

  it('then the audit holds the override with who, when and why', async () => {
    const record = (await runtime.deps.audit.list('acme')).find((r) => r.kind === 'rotation.rolling-back')!;
    expect(record.actor).toBe('human:dana@msp.example');
    expect(record.data.by).toBe('dana'); // the token's stable subject, not only a display name
    expect(record.data).toMatchObject({ step: 'override', reason: 'override by human:dana@msp.example: the payment terminal pins the old key' });
    expect(Date.now() - Date.parse(record.at)).toBeLessThan(60_000);
  });
});

describe('When the assignee escalates', () => {
  it('then the gate of the tenant is raised, and the next renewal waits for approval until it is approved', async () => {
    const escalated = await call('POST', '/api/tenants/acme/certificates/web/escalate', tokens.acme, { reason: 'we are in a change freeze' });
    expect(escalated.status).toBe(200);
    expect(await runtime.deps.governance.getGateState('acme', 'rotate')).toMatchObject({ raisedTo: 'L2', raisedBy: 'escalation' });

    const before = (await state('acme'))!.rotation!.rotationId;
    const { sweepId } = await runtime.pipeline.requestRenewal({ tenantId: 'acme', certificateId: 'web', reason: 'renew again' });
    expect((await state('acme'))!.rotation!.rotationId).toBe(before); // nothing rotated
    const pending = await call('GET', '/api/tenants/acme/approvals', tokens.acme);
    const approval = (pending.body.approvals as Array<{ approvalId: string; status: string; certificateId: string }>).find((a) => a.certificateId === 'web' && a.status === 'pending')!;
    expect(approval).toBeDefined();

    const approved = await call('POST', `/api/tenants/acme/approvals/${encodeURIComponent(approval.approvalId)}/approve`, tokens.acme, {});
    expect(approved.status).toBe(200);
    expect(await state('acme')).toMatchObject({ rotation: { rotationId: `${sweepId}:web`, state: 'committed' } });
    expect(await served('acme', 'acme')).toBe((await state('acme'))!.deployedFingerprint);
    const again = await call('POST', `/api/tenants/acme/approvals/${encodeURIComponent(approval.approvalId)}/approve`, tokens.acme, {});
    expect(again.status).toBe(409);
  });
});

describe('When tokens do not entitle the caller', () => {
  // Three values per row: a two-value row would make jest take the third parameter for `done`.
  const tenantBRoutes: Array<['GET' | 'POST', string, unknown]> = [
    ['GET', '/api/tenants/beta/certificates', undefined],
    ['GET', '/api/tenants/beta/findings', undefined],
    ['GET', '/api/tenants/beta/actions', undefined],
    ['GET', '/api/tenants/beta/approvals', undefined],
    ['POST', '/api/tenants/beta/certificates/web/review', {}],
    ['POST', '/api/tenants/beta/certificates/web/override', { reason: 'x' }],
    ['POST', '/api/tenants/beta/certificates/web/escalate', { reason: 'x' }],
    ['POST', '/api/tenants/beta/approvals/any/approve', {}],
    ['POST', '/api/tenants/beta/approvals/any/deny', { reason: 'x' }],
    ['POST', '/api/tenants/beta/snoozes', { subjectKey: 'certificate:web', until: '2030-01-01T00:00:00Z', reason: 'x' }],
    ['POST', '/api/tenants/beta/gates/renew/lower', { reason: 'x' }],
  ];

  it.each(tenantBRoutes)("then a technician of acme gets 403 on beta's %s %s", async (method, route, body) => {
    const answer = await call(method, route, tokens.acme, body);
    expect(answer.status).toBe(403);
  });

  it("then an MSP admin reads beta's certificates", async () => {
    expect((await call('GET', '/api/tenants/beta/certificates', tokens.admin)).status).toBe(200);
  });

  it.each([
    ['no token', null, /^Bearer$/],
    ['an expired token', 'expired', /error="invalid_token"/],
    ['a token for another audience', 'audience', /error="invalid_token"/],
    ['a token signed by another key', 'foreignKey', /error="invalid_token"/],
  ])('then %s gets 401 with a WWW-Authenticate challenge', async (_case, which, challenge) => {
    const answer = await call('GET', '/api/tenants/acme/certificates', which ? tokens[which] : null);
    expect(answer.status).toBe(401);
    expect(answer.headers.get('www-authenticate')).toMatch(challenge);
  });
});

describe('When humans override ten L1 actions in a row', () => {
  /** Renews now; when the gate holds the request (the last rotation was overridden), the technician approves it. */
  async function renewAndCommit(reason: string): Promise<void> {
    const { sweepId } = await runtime.pipeline.requestRenewal({ tenantId: 'learn', certificateId: 'web', reason });
    if ((await state('learn'))?.rotation?.rotationId !== `${sweepId}:web`) {
      const pending = (await runtime.deps.governance.listApprovals('learn', 'pending')).filter((a) => a.certificateId === 'web');
      expect(pending).toHaveLength(1);
      expect((await call('POST', `/api/tenants/learn/approvals/${encodeURIComponent(pending[0].approvalId)}/approve`, tokens.learn, {})).status).toBe(200);
    }
    expect((await state('learn'))?.rotation).toMatchObject({ rotationId: `${sweepId}:web`, state: 'committed' });
  }

  async function renewAndOverride(): Promise<void> {
    await renewAndCommit('learning');
    const answer = await call('POST', '/api/tenants/learn/certificates/web/override', tokens.learn, { reason: 'broke the app again' });
    expect(answer.status).toBe(200);
  }

  it('then the pair moves to L2 at the tenth, and the configured run of accepted (approved) actions moves it back', async () => {
    for (let i = 1; i <= 9; i++) await renewAndOverride();
    expect((await runtime.deps.governance.getGateState('learn', 'rotate'))?.raisedTo).toBeNull();
    await renewAndOverride();
    expect(await runtime.deps.governance.getGateState('learn', 'rotate')).toMatchObject({ raisedTo: 'L2', raisedBy: 'override-rate' });
    expect((await runtime.deps.audit.list('learn')).filter((r) => r.kind === 'gate.raised')).toHaveLength(2); // renew and rotate

    // Now every renewal waits; five approved and not overridden lift the raise (relaxAfter 5).
    for (let i = 1; i <= 5; i++) {
      const { sweepId } = await runtime.pipeline.requestRenewal({ tenantId: 'learn', certificateId: 'web', reason: 'accepted' });
      expect((await state('learn'))?.rotation?.rotationId).not.toBe(`${sweepId}:web`); // held for approval
      const [pending] = (await runtime.deps.governance.listApprovals('learn', 'pending')).filter((a) => a.certificateId === 'web');
      expect((await call('POST', `/api/tenants/learn/approvals/${encodeURIComponent(pending.approvalId)}/approve`, tokens.learn, {})).status).toBe(200);
      expect((await state('learn'))?.rotation).toMatchObject({ rotationId: `${sweepId}:web`, state: 'committed' });
    }
    expect(await runtime.deps.governance.getGateState('learn', 'rotate')).toMatchObject({ raisedTo: null });
    // And the next renewal is L1 again: it commits without anyone approving.
    const { sweepId } = await runtime.pipeline.requestRenewal({ tenantId: 'learn', certificateId: 'web', reason: 'back to L1' });
    expect((await state('learn'))?.rotation).toMatchObject({ rotationId: `${sweepId}:web`, state: 'committed' });
    // The humans were told both times.
    const gateNotices = readFileSync(path.join(dir, 'outbox.jsonl'), 'utf8').split('\n').filter((l) => l.includes('"gate-changed"') && l.includes('"learn"'));
    expect(gateNotices.length).toBeGreaterThanOrEqual(2);
    expect(existsSync(dir)).toBe(true);
  });
});
