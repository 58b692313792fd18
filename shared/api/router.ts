/**
 * certops' HTTP API, transport-agnostic: the embedded server (http-server.ts) and the Functions
 * HTTP trigger (functions/http.ts) hand it the same request shape. Humans see a tenant's
 * certificates, findings and actions, and decide: review (acknowledge), override (roll back
 * through the rotation engine), escalate (raise the gate for the tenant's renewals), approve or
 * deny an L2 request, snooze. Every decision is audited with who (the token's subject and name)
 * and when; every route is scoped to one tenant and authorized for it (a technician of tenant A
 * gets 403 on tenant B, MSP admins see all).
 */
import type { ActionType } from '../domain/gate-policy';
import { ACTION_TYPES } from '../domain/gate-policy';
import { errorMessage, PermanentError, RetryableError } from '../domain/errors';
import type { CloudEvent } from '../domain/events';
import type { TenantConfig } from '../config/model';
import { ConcurrencyError } from '../ports/certificate-store';
import type { PendingApproval } from '../ports/governance-store';
import type { DeliveryContext } from '../pipeline/delivery';
import { approvalExpiry, approvedRequest, approvedRotationId, escalateGate, lowerGate, RENEWAL_ACTIONS, rotationFinished } from '../pipeline/governance';
import { inventoryRows } from '../pipeline/inventory';
import { runOverride } from '../pipeline/on-demand';
import { verifyTenantAudit } from '../pipeline/audit-heads';
import { exportOscal } from '../pipeline/oscal-export';
import { PROMETHEUS_CONTENT_TYPE } from '../observability/metrics';
import type { PipelineDeps } from '../pipeline/stage';
import { AuthenticationError, AuthorizationError, authorizeAdmin, authorizeTenant, type Principal, type TokenVerifier } from './auth';

export interface ApiRequest {
  method: string;
  /** Path without the query, e.g. `/api/tenants/contoso/certificates`. */
  path: string;
  /** Query parameters (the first value of each). */
  query?: Record<string, string>;
  headers: Record<string, string | undefined>;
  /** Parsed JSON body (undefined when none); `invalidJson` when it did not parse. */
  body: unknown;
}

export interface ApiResponse {
  status: number;
  headers?: Record<string, string>;
  body: unknown;
  /** A body sent as it is (with its content-type header), not as JSON: the Prometheus exposition. */
  text?: string;
}

export interface ApiDeps {
  deps: PipelineDeps;
  verifier: TokenVerifier;
  /** Puts events on the bus (an approved request for the rotate stage, an override's outcome for notify). */
  publish(events: CloudEvent[]): Promise<void>;
}

export const INVALID_JSON = Symbol('invalid JSON');

/** A request body as the router takes it: undefined when empty, INVALID_JSON when it does not parse. */
export function parseJsonBody(text: string): unknown {
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return INVALID_JSON;
  }
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

type Handler = (call: Call) => Promise<ApiResponse>;
interface Call {
  api: ApiDeps;
  principal: Principal;
  tenant: TenantConfig;
  params: Record<string, string>;
  query: Record<string, string>;
  body: Record<string, unknown>;
}

const ROUTES: Array<{ method: string; pattern: RegExp; names: string[]; handler: Handler }> = [];
function route(method: string, path: string, handler: Handler): void {
  const names: string[] = [];
  const pattern = new RegExp(`^${path.replace(/\{(\w+)\}/g, (_, name: string) => (names.push(name), '([^/]+)'))}$`);
  ROUTES.push({ method, pattern, names, handler });
}

export function createApi(api: ApiDeps): (request: ApiRequest) => Promise<ApiResponse> {
  return async (request) => {
    try {
      if (request.method === 'GET' && request.path === '/api/health') return { status: 200, body: { status: 'ok' } };
      const principal = await api.verifier.verify(request.headers.authorization);
      if (request.method === 'GET' && (request.path === '/metrics' || request.path === '/api/metrics')) {
        // Tenant ids and counts of every tenant: the MSP's, not a technician's (Prometheus fetches a token).
        authorizeAdmin(principal);
        if (!api.deps.metrics) throw new HttpError(404, 'this runtime keeps no metrics');
        return { status: 200, headers: { 'content-type': PROMETHEUS_CONTENT_TYPE }, body: null, text: await api.deps.metrics.render(api.deps) };
      }
      if (request.method === 'GET' && request.path === '/api/me') {
        return { status: 200, body: { subject: principal.subject, name: principal.name, mspAdmin: principal.mspAdmin, tenants: [...principal.tenants].sort() } };
      }
      const tenantMatch = /^\/api\/tenants\/([^/]+)(\/.*)?$/.exec(request.path);
      if (!tenantMatch) throw new HttpError(404, `no route ${request.method} ${request.path}`);
      const tenantId = decodePathSegment(tenantMatch[1]);
      authorizeTenant(principal, tenantId); // before anything about the tenant is looked up
      const tenant = api.deps.tenants.get(tenantId);
      if (!tenant) throw new HttpError(404, `tenant ${tenantId} is not configured`);
      if (request.body === INVALID_JSON) throw new HttpError(400, 'the body is not valid JSON');
      for (const r of ROUTES) {
        const m = r.pattern.exec(request.path);
        if (!m) continue;
        if (r.method !== request.method) continue;
        const params = Object.fromEntries(r.names.map((n, i) => [n, decodePathSegment(m[i + 1])]));
        const body = (request.body && typeof request.body === 'object' ? request.body : {}) as Record<string, unknown>;
        return await r.handler({ api, principal, tenant, params, body, query: request.query ?? {} });
      }
      throw new HttpError(ROUTES.some((r) => r.pattern.test(request.path)) ? 405 : 404, `no route ${request.method} ${request.path}`);
    } catch (err) {
      return errorResponse(err, api);
    }
  };
}

function decodePathSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new HttpError(400, `the path segment "${segment.slice(0, 80)}" is not valid percent-encoding`);
  }
}

function errorResponse(err: unknown, api: ApiDeps): ApiResponse {
  if (err instanceof AuthenticationError) return { status: 401, headers: { 'www-authenticate': err.wwwAuthenticate }, body: { error: 'unauthorized', message: err.message } };
  if (err instanceof AuthorizationError) return { status: 403, body: { error: 'forbidden', message: err.message } };
  if (err instanceof HttpError) return { status: err.status, body: { error: err.status === 404 ? 'not-found' : 'bad-request', message: err.message } };
  if (err instanceof ConcurrencyError) return { status: 409, body: { error: 'conflict', message: err.message } };
  if (err instanceof PermanentError) return { status: 409, body: { error: 'refused', message: err.message } };
  if (err instanceof RetryableError) return { status: 503, headers: { 'retry-after': '5' }, body: { error: 'unavailable', message: err.message } };
  api.deps.logger.error({ err }, 'API request failed');
  return { status: 500, body: { error: 'internal', message: 'the request failed; see the logs' } };
}

/** `human:<name or subject>`: the audit actor of a person's decision. */
function actor(principal: Principal): string {
  return `human:${principal.name ?? principal.subject}`;
}

function delivery(call: Call): DeliveryContext {
  const { deps } = call.api;
  return {
    deps,
    tenant: call.tenant,
    log: deps.logger,
    audit: async (kind, data) => void (await deps.audit.append(call.tenant.id, { kind, actor: actor(call.principal), correlationId: `api:${kind}`, data: { ...data, by: call.principal.subject } })),
  };
}

function requiredText(body: Record<string, unknown>, name: string): string {
  const value = body[name];
  if (typeof value !== 'string' || value.trim() === '') throw new HttpError(400, `"${name}" is required: say why (it is recorded in the audit trail)`);
  if (value.length > 2000) throw new HttpError(400, `"${name}" is longer than 2000 characters`);
  return value.trim();
}

function managedOf(call: Call): string {
  const id = call.params.certificate;
  if (!call.tenant.managedCertificates?.some((m) => m.id === id)) throw new HttpError(404, `tenant ${call.tenant.id} has no managed certificate ${id}`);
  return id;
}

// --- reading ---------------------------------------------------------------------------------

route('GET', '/api/tenants/{tenant}/certificates', async ({ api, tenant }) => {
  const { store } = api.deps;
  const rows = inventoryRows(await store.listObservations(tenant.id));
  const managed = await Promise.all(
    (tenant.managedCertificates ?? []).map(async (m) => {
      const state = await store.getManagedState(tenant.id, m.id);
      return { id: m.id, dnsNames: m.dnsNames, issuer: m.issuer, deployedFingerprint: state?.deployedFingerprint ?? null, notAfter: state?.notAfter ?? null, lastRotation: state?.lastRotation ?? null, rotation: state?.rotation ? summarizeRotation(state.rotation) : null };
    }),
  );
  return { status: 200, body: { tenant: tenant.id, managed, inventory: rows.map(({ findings, ...row }) => ({ ...row, findings: findings.map((f) => f.code) })) } };
});

route('GET', '/api/tenants/{tenant}/findings', async ({ api, tenant }) => {
  const rows = inventoryRows(await api.deps.store.listObservations(tenant.id)).filter((r) => r.findings.length > 0);
  return { status: 200, body: { tenant: tenant.id, findings: rows.flatMap((r) => r.findings.map((f) => ({ endpoint: r.endpoint, address: r.address, ...f }))) } };
});

route('GET', '/api/tenants/{tenant}/actions', async ({ api, tenant }) => {
  const { store, governance } = api.deps;
  const rotations = [];
  for (const m of tenant.managedCertificates ?? []) {
    const state = await store.getManagedState(tenant.id, m.id);
    if (state?.rotation) rotations.push({ certificateId: m.id, ...summarizeRotation(state.rotation) });
  }
  return { status: 200, body: { tenant: tenant.id, rotations, approvals: (await governance.listApprovals(tenant.id)).map(summarizeApproval), gates: await governance.listGateStates(tenant.id) } };
});

route('GET', '/api/tenants/{tenant}/audit/verify', async ({ api, tenant }) => {
  const verdict = await verifyTenantAudit(api.deps, tenant.id);
  return { status: 200, body: { tenant: tenant.id, ...verdict, publicKey: api.deps.auditSigner.publicKeyPem } };
});

route('GET', '/api/tenants/{tenant}/audit/oscal', async ({ api, tenant, query }) => {
  try {
    return { status: 200, body: await exportOscal(api.deps, tenant.id, { from: query.from, to: query.to }) };
  } catch (err) {
    if (err instanceof RangeError) throw new HttpError(400, `from/to: ${err.message}`);
    throw err;
  }
});

route('GET', '/api/tenants/{tenant}/approvals', async ({ api, tenant }) => ({ status: 200, body: { approvals: (await api.deps.governance.listApprovals(tenant.id)).map(summarizeApproval) } }));

// --- deciding --------------------------------------------------------------------------------

route('POST', '/api/tenants/{tenant}/certificates/{certificate}/review', async (call) => {
  const id = managedOf(call);
  const rotation = (await call.api.deps.store.getManagedState(call.tenant.id, id))?.rotation;
  const note = typeof call.body.note === 'string' ? call.body.note.slice(0, 2000) : null;
  await delivery(call).audit('human.reviewed', { certificateId: id, rotationId: rotation?.rotationId ?? null, state: rotation?.state ?? null, note });
  return { status: 200, body: { reviewed: id, rotationId: rotation?.rotationId ?? null } };
});

route('POST', '/api/tenants/{tenant}/certificates/{certificate}/override', async (call) => {
  const id = managedOf(call);
  const reason = requiredText(call.body, 'reason');
  const events = await runOverride(call.api.deps, { tenantId: call.tenant.id, certificateId: id, reason, actor: actor(call.principal), subject: call.principal.subject });
  await call.api.publish(events);
  const rotation = (await call.api.deps.store.getManagedState(call.tenant.id, id))?.rotation;
  return {
    status: rotation?.restoredVerified ? 200 : 502,
    body: { certificateId: id, rotationId: rotation?.rotationId, state: rotation?.state, restored: rotation?.restored, restoredVerified: rotation?.restoredVerified, servedFingerprint: rotation?.restoredVerified ? rotation.fromFingerprint : null },
  };
});

route('POST', '/api/tenants/{tenant}/certificates/{certificate}/escalate', async (call) => {
  const id = managedOf(call);
  const reason = requiredText(call.body, 'reason');
  const gates = [];
  for (const action of RENEWAL_ACTIONS) gates.push(await escalateGate(delivery(call), action, 'L2', actor(call.principal), `${reason} (from certificate ${id})`));
  return { status: 200, body: { escalated: RENEWAL_ACTIONS, level: 'L2', gates } };
});

route('POST', '/api/tenants/{tenant}/gates/{action}/lower', async (call) => {
  authorizeAdmin(call.principal); // relaxing a gate is the MSP's call, not a technician's
  const action = call.params.action as ActionType;
  if (!ACTION_TYPES.includes(action)) throw new HttpError(400, `unknown action ${call.params.action} (known: ${ACTION_TYPES.join(', ')})`);
  return { status: 200, body: await lowerGate(delivery(call), action, actor(call.principal), requiredText(call.body, 'reason')) };
});

route('POST', '/api/tenants/{tenant}/approvals/{approval}/approve', async (call) => decide(call, 'approved'));
route('POST', '/api/tenants/{tenant}/approvals/{approval}/deny', async (call) => decide(call, 'denied'));

route('POST', '/api/tenants/{tenant}/snoozes', async (call) => {
  const subjectKey = requiredText(call.body, 'subjectKey');
  const until = requiredText(call.body, 'until');
  if (Number.isNaN(Date.parse(until))) throw new HttpError(400, '"until" must be an ISO 8601 time');
  const reason = requiredText(call.body, 'reason');
  await call.api.deps.governance.putSnooze({ tenantId: call.tenant.id, subjectKey, until: new Date(until).toISOString(), by: actor(call.principal), reason });
  await delivery(call).audit('human.snoozed', { subjectKey, until, reason });
  return { status: 200, body: { snoozed: subjectKey, until: new Date(until).toISOString() } };
});

/**
 * A human's answer to an L2 approval. The decision is recorded first (compare-and-set on the
 * approval's version: two humans at once, one wins, the other gets 409), and only an approval
 * recorded as approved publishes its held request; the rotate stage reads the approval again
 * before it acts. If publishing fails after the approval was recorded, approving again publishes
 * it again (same event id, the rotation is idempotent), and so does the next sweep's gate.
 * Expiry is the approval expiry job's: an answer after `expiresAt` is refused, not recorded.
 */
async function decide(call: Call, status: 'approved' | 'denied'): Promise<ApiResponse> {
  const { governance, clock } = call.api.deps;
  const approval = await governance.getApproval(call.tenant.id, call.params.approval);
  if (!approval) throw new HttpError(404, `no approval ${call.params.approval} for tenant ${call.tenant.id}`);
  const reason = status === 'denied' ? requiredText(call.body, 'reason') : typeof call.body.reason === 'string' ? call.body.reason : null;
  if (approval.status === 'approved' && status === 'approved' && !(await rotationFinished(call.api.deps, call.tenant.id, approvedRotationId(approval), approval.certificateId))) {
    await call.api.publish([approvedRequest(approval)]); // a retry after the publish failed
    return { status: 200, body: summarizeApproval(approval) };
  }
  if (approval.status !== 'pending') throw new PermanentError(`approval ${approval.approvalId} is already ${approval.status}${approval.decidedBy ? ` (by ${approval.decidedBy})` : ''}`);
  const now = clock.now();
  if (Date.parse(approval.expiresAt) <= now.getTime()) throw new PermanentError(`approval ${approval.approvalId} expired at ${approval.expiresAt}; the next sweep asks again while the certificate is due`);
  const decided: PendingApproval = {
    ...approval,
    status,
    decidedBy: actor(call.principal),
    decidedAt: now.toISOString(),
    reason,
    // A denial stands for a full approval window from now: the next sweeps do not ask again before.
    ...(status === 'denied' ? { expiresAt: approvalExpiry(call.tenant, now) } : {}),
    version: approval.version + 1,
  };
  await governance.putApproval(decided, approval.version);
  await delivery(call).audit(status === 'approved' ? 'approval.approved' : 'approval.denied', { approvalId: approval.approvalId, certificateId: approval.certificateId, action: approval.action, reason });
  if (status === 'approved') {
    try {
      await call.api.publish([approvedRequest(decided)]);
    } catch (err) {
      throw new HttpError(503, `approval ${approval.approvalId} is recorded as approved, but its renewal could not be queued (${errorMessage(err)}); approve again to retry, or the next sweep sends it`);
    }
  }
  return { status: 200, body: summarizeApproval(decided) };
}

function summarizeRotation(r: NonNullable<Awaited<ReturnType<PipelineDeps['store']['getManagedState']>>>['rotation'] & object) {
  return {
    rotationId: r.rotationId,
    state: r.state,
    reason: r.reason,
    level: r.decision.level,
    from: r.fromFingerprint,
    to: r.issued?.fingerprint ?? null,
    verified: r.verified,
    failure: r.failure,
    history: r.history,
  };
}

function summarizeApproval(a: PendingApproval) {
  const { request: _request, ...rest } = a;
  return rest;
}

export { errorMessage };
