#!/usr/bin/env node
/**
 * certops command line: `run`, `report`, `audit verify`, `demo`.
 * Each command reads the configuration once (--config, or CERTOPS_CONFIG, or ./certops.yaml).
 */
import { userInfo } from 'node:os';
import { parseArgs } from 'node:util';
import { loadConfig } from '../config/load-config';
import { createEmbeddedRuntime } from '../composition-root';
import { ConfigError, errorMessage } from '../domain/errors';
import { auditedTenants, readHeadLog, verifyTenantAudit, type HeadLogReading } from '../pipeline/audit-heads';
import { exportOscal } from '../pipeline/oscal-export';
import { readFileSync, writeFileSync } from 'node:fs';
import type { PipelineDeps } from '../pipeline/stage';
import { createLogger } from '../observability/logger';
import { inventory } from '../pipeline/inventory';
import { formatInventory } from './report-format';
import { runDemo } from '../demo/demo';
import { apiFor } from '../api/compose';
import { startApiServer } from '../api/http-server';
import { tokenCommand, TOKEN_USAGE } from './token-command';
import { nextOccurrence, Scheduler } from '../adapters/local/scheduler';
import type { StageName } from '../pipeline/topology';

const USAGE = `usage:
  certops run [--config FILE]                 one sweep of every tenant, to completion
  certops report [--config FILE] [--tenant T] [--json]
  certops audit verify [--config FILE] [--tenant T] [--head FILE]
                                              check the audit chains against the signed head log;
                                              --head: also against a signed head a witness kept
                                              (the auditHead of a webhook or digest, or the OSCAL
                                              export's signed head), saved as a JSON file
  certops audit export --format oscal --tenant T [--from ISO] [--to ISO] [--out FILE]
                                              OSCAL 1.2.1 assessment results of the tenant's evidence
  certops renew --tenant T CERTIFICATE [--reason WHY] [--key-compromise] [--config FILE]
                                              renew and rotate one managed certificate now;
                                              --key-compromise: keep no previous key, revoke the old certificate
  certops rollback --tenant T CERTIFICATE --reason WHY [--config FILE]
                                              undo the certificate's last rotation (an override)
  certops serve [--config FILE]               keep running: sweeps on the schedule, until SIGINT/SIGTERM
  certops demo                                a local fleet, one sweep, rotation, reports
${TOKEN_USAGE.replace(/^usage:\n/, '')}`;

export async function main(argv: string[], out: NodeJS.WritableStream = process.stdout, options: { stop?: AbortSignal } = {}): Promise<number> {
  if (argv[0] === 'token') {
    // Its own options (tokenCommand parses them); only --config is ours, for the data directory.
    const rest = [...argv.slice(1)];
    const at = rest.indexOf('--config');
    const configFile = at >= 0 ? rest.splice(at, 2)[1] : (process.env.CERTOPS_CONFIG ?? 'certops.yaml');
    return tokenCommand(rest, loadConfig(configFile).dataDir, out);
  }
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string' },
      tenant: { type: 'string', multiple: true },
      json: { type: 'boolean', default: false },
      reason: { type: 'string' },
      'key-compromise': { type: 'boolean', default: false },
      format: { type: 'string' },
      from: { type: 'string' },
      to: { type: 'string' },
      out: { type: 'string' },
      head: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const [command, sub] = positionals;
  const print = (text: string) => out.write(`${text}\n`);
  if (values.help || !command) {
    print(USAGE);
    return command ? 0 : 2;
  }
  const configFile = values.config ?? process.env.CERTOPS_CONFIG ?? 'certops.yaml';
  const logger = createLogger({ level: process.env.CERTOPS_LOG_LEVEL ?? 'warn' });

  switch (command) {
    case 'demo':
      return runDemo({ out });
    case 'run': {
      const runtime = createEmbeddedRuntime(loadConfig(configFile), { logger, observer: progress(print) });
      try {
        runtime.pipeline.start();
        const started = Date.now();
        const { sweepId } = await runtime.pipeline.sweep({ reason: 'on-demand', tenantIds: values.tenant });
        const dead = await runtime.bus.deadLetters();
        print(`sweep ${sweepId} finished in ${((Date.now() - started) / 1000).toFixed(1)} s; dead letters: ${dead.length}`);
        for (const d of dead) print(`  dead letter on ${d.subscription}: ${d.reason}: ${d.description ?? ''}`);
        print(`inventory and audit: ${runtime.databaseFile}${runtime.outboxFile ? `; notifications: ${runtime.outboxFile}` : ''}`);
        return 0;
      } finally {
        await runtime.close();
      }
    }
    case 'renew': {
      const tenantId = values.tenant?.[0];
      if (!tenantId || !sub || (values.tenant?.length ?? 0) > 1) {
        print(`renew needs exactly one --tenant and the managed certificate's id\n${USAGE}`);
        return 2;
      }
      const runtime = createEmbeddedRuntime(loadConfig(configFile), { logger, observer: progress(print) });
      try {
        runtime.pipeline.start();
        const keyCompromise = values['key-compromise'] === true;
        const { sweepId } = await runtime.pipeline.requestRenewal({ tenantId, certificateId: sub, reason: values.reason ?? 'operator', keyCompromise });
        const rotation = (await runtime.deps.store.getManagedState(tenantId, sub))?.rotation;
        const ours = rotation?.rotationId === `${sweepId}:${sub}` ? rotation : null;
        print(
          ours
            ? `renewal ${sweepId}: ${ours.state}${ours.issued ? ` ${ours.issued.fingerprint.slice(0, 16)}` : ''}${ours.failure ? ` (${ours.failure.reason})` : ''}`
            : `renewal ${sweepId}: no rotation ran; the gate decision is in the audit (an L2 or L3 gate waits for a human)`,
        );
        if (ours && keyCompromise) {
          print(`  previous key: ${ours.retired ? `deleted (${ours.retired.at})` : 'NOT deleted yet; the key-retirement job deletes it'}`);
          print(`  old certificate: ${ours.revocation ? `${ours.revocation.outcome}${ours.revocation.detail ? ` (${ours.revocation.detail})` : ''}` : 'not revoked yet; the key-retirement job asks the CA again'}`);
        }
        const dead = await runtime.bus.deadLetters();
        for (const d of dead) print(`  dead letter on ${d.subscription}: ${d.reason}: ${d.description ?? ''}`);
        return ours?.state === 'committed' && dead.length === 0 ? 0 : 1;
      } finally {
        await runtime.close();
      }
    }
    case 'rollback': {
      const tenantId = values.tenant?.[0];
      if (!tenantId || !sub || (values.tenant?.length ?? 0) > 1 || !values.reason) {
        print(`rollback needs exactly one --tenant, the managed certificate's id and --reason\n${USAGE}`);
        return 2;
      }
      const runtime = createEmbeddedRuntime(loadConfig(configFile), { logger });
      try {
        runtime.pipeline.start();
        await runtime.pipeline.override({ tenantId, certificateId: sub, reason: values.reason, actor: `cli:${userInfo().username}` });
        const rotation = (await runtime.deps.store.getManagedState(tenantId, sub))?.rotation;
        print(`rollback of ${rotation?.rotationId}: ${rotation?.restoredVerified ? `the previous certificate ${rotation.fromFingerprint?.slice(0, 16)} is served again (verified)` : 'the previous certificate is NOT verified serving; see the escalation'}`);
        return rotation?.restoredVerified ? 0 : 1;
      } finally {
        await runtime.close();
      }
    }
    case 'serve': {
      const config = loadConfig(configFile);
      const runtime = createEmbeddedRuntime(config, { logger });
      const scheduler = new Scheduler({ logger });
      runtime.pipeline.schedule(scheduler, { ingest: config.sweepSchedule, digest: config.notifications.digestSchedule });
      runtime.pipeline.start();
      scheduler.start();
      const api = config.api ? await startApiServer(apiFor(runtime), { port: config.api.port ?? 0 }) : null;
      print(`certops serving ${config.tenants.length} tenants; sweeps on "${config.sweepSchedule}" (next ${nextOccurrence(config.sweepSchedule, new Date()).toISOString()}); state in ${runtime.databaseFile}`);
      if (api) print(`API at ${api.url}/api (${config.api?.auth.mode === 'entra' ? 'Entra ID tokens' : 'local tokens: certops token --sub you --tenant T'})`);
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        options.stop?.addEventListener('abort', stop, { once: true });
      });
      scheduler.stop();
      await api?.close();
      await runtime.close();
      print('certops stopped; queued work resumes on the next start');
      return 0;
    }
    case 'report': {
      const runtime = createEmbeddedRuntime(loadConfig(configFile), { logger, notify: false });
      try {
        const rows = await inventory(runtime.deps.store, values.tenant);
        print(values.json ? JSON.stringify(rows, null, 2) : formatInventory(rows));
        return 0;
      } finally {
        await runtime.close();
      }
    }
    case 'audit': {
      if (sub !== 'verify' && sub !== 'export') {
        print(USAGE);
        return 2;
      }
      if (sub === 'export' && (values.format !== 'oscal' || values.tenant?.length !== 1)) {
        print(`audit export needs --format oscal and exactly one --tenant\n${USAGE}`);
        return 2;
      }
      const runtime = createEmbeddedRuntime(loadConfig(configFile), { logger, notify: false });
      try {
        if (sub === 'verify') return await auditVerify(runtime.deps, values.tenant, print, { witnessFile: values.head });
        const doc = await exportOscal(runtime.deps, values.tenant![0], { from: values.from, to: values.to });
        const text = JSON.stringify(doc, null, 2);
        if (values.out) {
          writeFileSync(values.out, `${text}\n`);
          print(`OSCAL assessment results of ${values.tenant![0]} written to ${values.out}`);
        } else print(text);
        return 0;
      } finally {
        await runtime.close();
      }
    }
    default:
      print(`unknown command ${command}\n${USAGE}`);
      return 2;
  }
}

/**
 * Checks every audited tenant (or those named) and prints one line each; the head log's own
 * problems that name no tenant get a line of their own. Each tenant is checked whatever the others'
 * outcome; 1 when anything failed, 0 otherwise.
 */
export async function auditVerify(
  deps: Pick<PipelineDeps, 'audit' | 'auditSigner' | 'auditHeads' | 'tenants'>,
  tenants: string[] | undefined,
  print: (text: string) => void,
  options: { witnessFile?: string } = {},
): Promise<number> {
  let failures = 0;
  let witness: unknown;
  if (options.witnessFile) {
    try {
      witness = JSON.parse(readFileSync(options.witnessFile, 'utf8'));
    } catch (err) {
      print(`audit: the witness head ${options.witnessFile} cannot be read as JSON: ${errorMessage(err)}`);
      return 1;
    }
  }
  let headLog: HeadLogReading | undefined;
  try {
    headLog = await readHeadLog(deps);
  } catch (err) {
    // Every tenant's check then reads it again, and each says it could not.
    failures++;
    print(`audit head log: UNREADABLE: ${errorMessage(err)}`);
  }
  for (const finding of headLog?.findings.filter((f) => f.tenantId === null) ?? []) {
    failures++;
    print(`audit head log: TAMPERED: ${finding.message}`);
  }
  const named = tenants?.length ? tenants : headLog ? await auditedTenants(deps, headLog) : await deps.audit.tenants();
  const witnessTenant = (witness as { tenantId?: unknown } | undefined)?.tenantId;
  const checked = typeof witnessTenant === 'string' && !named.includes(witnessTenant) ? [...named, witnessTenant] : named;
  for (const tenant of checked) {
    const result = await verifyTenantAudit(deps, tenant, { headLog, witness });
    const head = result.signedHead
      ? `; head signed at record ${result.signedHead.seq} (entry ${result.signedHead.index}, ${result.signedHead.signedAt}, ${result.signedHead.keyId})`
      : '; no signed head yet';
    const witnessed = result.ok && witnessTenant === tenant ? '; the witness head agrees' : '';
    if (result.ok) print(`audit ${tenant}: ${result.count} records, chain intact${head}${witnessed}`);
    else {
      failures++;
      print(`audit ${tenant}: TAMPERED: ${result.message}`);
    }
  }
  return failures === 0 ? 0 : 1;
}

function progress(print: (text: string) => void): (stage: StageName, outcome: string) => void {
  const counts = new Map<string, number>();
  let last = 0;
  return (stage, outcome) => {
    const key = outcome === 'completed' ? stage : `${stage}(dead-lettered)`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
    const now = Date.now();
    if (now - last >= 500) {
      last = now;
      print(`  progress: ${[...counts].map(([k, v]) => `${k} ${v}`).join(' · ')}`);
    }
  };
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      process.stderr.write(`certops: ${err instanceof ConfigError ? err.message : errorMessage(err)}\n`);
      process.exitCode = err instanceof ConfigError ? 2 : 1;
    },
  );
}
