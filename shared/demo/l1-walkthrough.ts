/**
 * The demo's L1 loop, over real HTTP: certops has acted (renewed, deployed) and told the tenant's
 * humans; a technician answers afterwards through the API with a bearer token: reviews one
 * rotation, overrides another (the old certificate is served again, checked by a fresh
 * handshake), escalates (the tenant's renewals now wait for approval: an operator renewal waits,
 * then is approved, rotated and checked), and a token of another tenant is refused (403).
 *
 * The API server starts before the runtime exists (its address goes into the configuration as
 * `notifications.actionsBaseUrl`, so the notifications' links lead to it) and is attached to the
 * runtime once the runtime is built.
 */
import { readFileSync } from 'node:fs';
import { loadOrCreateLocalSigningKey, mintLocalToken } from '../api/auth';
import { apiFor } from '../api/compose';
import { startApiServer, type ApiServer } from '../api/http-server';
import type { ApiRequest, ApiResponse } from '../api/router';
import type { EmbeddedRuntime } from '../composition-root';
import type { Notification } from '../ports/notifier';

/** An API server whose handler is attached later (the runtime needs the server's URL first). */
export interface DemoApi {
  url: string;
  /** Serves `runtime` from now on; published decisions wait until the bus is idle (so answers reflect their effects). */
  attach(runtime: EmbeddedRuntime): void;
  close(): Promise<void>;
}

/** Starts the API server on a free loopback port; until `attach`, every request gets 503. */
export async function startDemoApi(): Promise<DemoApi> {
  let handle: ((request: ApiRequest) => Promise<ApiResponse>) | null = null;
  const server: ApiServer = await startApiServer(async (request) => (handle ? handle(request) : { status: 503, body: { error: 'unavailable', message: 'starting' } }));
  return {
    url: server.url,
    attach: (runtime) => {
      handle = apiFor(runtime, { afterPublish: () => runtime.bus.idle() });
    },
    close: () => server.close(),
  };
}

export interface L1WalkthroughOptions {
  runtime: EmbeddedRuntime;
  api: DemoApi;
  /** The technician's tenant, and the certificates of the story (all rotated at L1 by the first sweep). */
  tenantId: string;
  reviewed: string;
  /** Overridden, then escalated from, then renewed by the operator and approved. */
  overridden: { certificateId: string; server: string };
  /** A tenant the technician has no role for: its certificate's override must be refused. */
  foreign: { tenantId: string; certificateId: string };
  /** SHA-256 of the leaf a fresh handshake gets from a fleet server. */
  served(server: string): Promise<string>;
  print(text?: string): void;
}

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

/**
 * Runs the walkthrough and prints it; true when every step did what it says (status codes,
 * fingerprints served, approval states), false (after printing what differed) otherwise.
 */
export async function runL1Walkthrough(o: L1WalkthroughOptions): Promise<boolean> {
  const { runtime, api, tenantId, print } = o;
  const mail = o.overridden.certificateId;
  const base = `/api/tenants/${tenantId}`;
  let ok = true;
  const expect = (condition: boolean, what: string): boolean => {
    if (!condition) {
      ok = false;
      print(`     UNEXPECTED: ${what}`);
    }
    return condition;
  };
  const { privateKey } = loadOrCreateLocalSigningKey(runtime.config.dataDir);
  // The token is a credential: it is used, never printed.
  const token = await mintLocalToken(privateKey, { subject: 'dana', name: 'dana@msp.example', roles: [`Technician.${tenantId}`], ttlSeconds: 600 });
  const call = async (method: 'GET' | 'POST', route: string, body?: unknown): Promise<Answer> => {
    const response = await fetch(`${api.url}${route}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };
  const lastAudit = async (kind: string) => (await runtime.deps.audit.list(tenantId)).filter((r) => r.kind === kind).pop();
  const deployed = async (id: string) => (await runtime.deps.store.getManagedState(tenantId, id))?.deployedFingerprint ?? null;

  print(`  API ${api.url}; Dana holds a token with role Technician.${tenantId} (local ES256 key, as \`certops token\` mints).`);
  const links = actionLinksOf(runtime.outboxFile, tenantId, mail);
  print(`  The Teams card and e-mail of "Renewed and deployed ${mail}" would carry these actions (from its outbox line; each a POST with a bearer token):`);
  for (const a of links) print(`    ${a.label.padEnd(9)} ${a.url}`);
  expect(links.length === 3, 'the rotation notification should carry Review, Override and Escalate');

  print(`\n  1. Dana reviews ${o.reviewed}: POST ${base}/certificates/${o.reviewed}/review`);
  const reviewed = await call('POST', `${base}/certificates/${o.reviewed}/review`, { note: 'looked at the new certificate; fine' });
  const reviewRecord = await lastAudit('human.reviewed');
  if (expect(reviewed.status === 200 && reviewRecord !== undefined, `review answered ${reviewed.status}`)) {
    print(`     → ${reviewed.status}; audit #${reviewRecord!.seq} human.reviewed by ${reviewRecord!.actor} (rotation ${String(reviewed.body.rotationId)})`);
  }

  const reason = 'the webmail appliance pins the old certificate';
  const newFingerprint = await deployed(mail);
  print(`\n  2. Dana overrides ${mail} ("${reason}"): POST ${base}/certificates/${mail}/override`);
  const overridden = await call('POST', `${base}/certificates/${mail}/override`, { reason });
  const old = typeof overridden.body.servedFingerprint === 'string' ? overridden.body.servedFingerprint : null;
  const servedNow = await o.served(o.overridden.server);
  const rollback = await lastAudit('rotation.rolling-back');
  if (expect(overridden.status === 200 && old !== null, `override answered ${overridden.status} ${JSON.stringify(overridden.body)}`)) {
    print(`     → ${overridden.status}: the new ${short(newFingerprint)} is undone, the old ${short(old)} is back (restoredVerified: ${String(overridden.body.restoredVerified)})`);
    const same = expect(servedNow === old, `a fresh handshake got ${short(servedNow)}, not the old ${short(old)}`);
    if (same) print(`     fresh handshake at ${o.overridden.server}: serves ${short(servedNow)}, the old certificate again (verified)`);
    if (rollback) print(`     audit #${rollback.seq} ${rollback.kind} by ${rollback.actor}: ${String(rollback.data?.reason)}`);
  }

  print(`\n  3. Dana escalates from ${mail}: POST ${base}/certificates/${mail}/escalate`);
  const escalated = await call('POST', `${base}/certificates/${mail}/escalate`, { reason: 'change freeze until the appliance is replaced' });
  const gates = await runtime.deps.governance.listGateStates(tenantId);
  const raised = gates.filter((g) => g.raisedTo === 'L2' && g.raisedBy === 'escalation').map((g) => g.action);
  if (expect(escalated.status === 200 && raised.length >= 2, `escalate answered ${escalated.status}; raised: ${raised.join(', ') || 'none'}`)) {
    print(`     → ${escalated.status}; ${tenantId}'s gate raised to L2 for ${raised.join(' and ')} (by escalation)`);
  }
  print(`     The operator renews ${mail} (runtime.pipeline.requestRenewal): it must now wait for approval`);
  const before = await deployed(mail);
  const { sweepId } = await runtime.pipeline.requestRenewal({ tenantId, certificateId: mail, reason: 'operator re-issue' });
  const pending = await call('GET', `${base}/approvals`);
  // One approval per certificate, action and certificate being replaced: this renewal's is the pending one of mail.
  const approval = ((pending.body.approvals as Array<Record<string, unknown>> | undefined) ?? []).find((a) => a.certificateId === mail && a.status === 'pending');
  const approvalId = String(approval?.approvalId);
  const waited = (await deployed(mail)) === before;
  if (expect(pending.status === 200 && approval?.status === 'pending' && waited, `approval ${approvalId}: ${String(approval?.status)}; still deployed: ${waited}`)) {
    print(`     GET ${base}/approvals → ${approvalId}: ${String(approval!.status)} (${String(approval!.action)}, expires ${String(approval!.expiresAt)}); nothing deployed yet`);
  }
  const approved = await call('POST', `${base}/approvals/${encodeURIComponent(approvalId)}/approve`, {});
  const rotation = (await runtime.deps.store.getManagedState(tenantId, mail))?.rotation;
  const after = await o.served(o.overridden.server);
  if (expect(approved.status === 200 && rotation?.rotationId === `${sweepId}:${mail}` && rotation.state === 'committed', `approve answered ${approved.status}; rotation ${String(rotation?.rotationId)} ${String(rotation?.state)}`)) {
    print(`     POST ${base}/approvals/${approvalId}/approve → ${approved.status}, ${String(approved.body.status)} by ${String(approved.body.decidedBy)}`);
    const verified = expect(after === (await deployed(mail)) && after !== before, `a fresh handshake got ${short(after)}`);
    if (verified) print(`     ${o.overridden.server}: ${short(before)} → ${short(after)}  ROTATED and verified (fresh handshake), rotation ${rotation!.state}`);
  }

  const foreign = await call('POST', `/api/tenants/${o.foreign.tenantId}/certificates/${o.foreign.certificateId}/override`, { reason: 'not mine' });
  expect(foreign.status === 403, `another tenant's override answered ${foreign.status}`);
  print(`\n  4. Dana's token on ${o.foreign.tenantId}: POST /api/tenants/${o.foreign.tenantId}/certificates/${o.foreign.certificateId}/override → ${foreign.status} ${String(foreign.body.error)} (${String(foreign.body.message)})`);
  return ok;
}

/** The action links of the rotation notification of a certificate, as the outbox recorded them. */
function actionLinksOf(outboxFile: string | null, tenantId: string, certificateId: string): NonNullable<Notification['actions']> {
  if (!outboxFile) return [];
  const notifications = readFileSync(outboxFile, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Notification);
  const rotated = notifications.find((n) => n.kind === 'rotation-completed' && n.tenantId === tenantId && n.subject.certificateId === certificateId);
  return rotated?.actions ?? [];
}

function short(fingerprint: string | null | undefined): string {
  return fingerprint ? fingerprint.slice(0, 16) : '-';
}
