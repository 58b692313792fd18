/**
 * Audit verification: a tenant's untouched chain of 10,000 records verified the way
 * `certops audit verify` does (read every record, recompute every HMAC, check every link and the
 * Ed25519 signed head in the head log beside the database, as the embedded runtime keeps it),
 * against the bare ceiling: the same HMACs over the same canonical bytes,
 * records already in memory.
 */
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { headSignerFrom } from '../../shared/adapters/local/ed25519-head-signer';
import { FileAuditHeadLog, HEAD_LOG_FILE } from '../../shared/adapters/local/file-audit-head-log';
import { auditChainKey, SqliteAuditLog } from '../../shared/adapters/local/sqlite-audit-log';
import { closeDatabase, openDatabase } from '../../shared/adapters/local/sqlite-database';
import { systemClock } from '../../shared/domain/clock';
import { canonicalJson } from '../../shared/domain/audit-chain';
import { signAuditHeads, verifyTenantAudit } from '../../shared/pipeline/audit-heads';

export interface AuditBench {
  records: number;
  verifyMs: number;
  bareMs: number;
  appendPerSecond: number;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)];
}

export async function measureAuditVerify(records: number, rounds: number, log: (s: string) => void): Promise<AuditBench> {
  const dir = mkdtempSync(path.join(tmpdir(), 'certops-bench-audit-'));
  const db = openDatabase(path.join(dir, 'audit.db'));
  try {
    const key = auditChainKey(Buffer.alloc(32, 3));
    const audit = new SqliteAuditLog(db, systemClock, key);
    const signer = headSignerFrom(Buffer.alloc(32, 4));
    const auditHeads = new FileAuditHeadLog(path.join(dir, HEAD_LOG_FILE), { exclusive: (fn) => db.transaction(fn).immediate() });
    log(`audit: appending ${records} records…`);
    const appendStarted = performance.now();
    for (let n = 1; n <= records; n++) {
      await audit.append('contoso', { kind: n % 3 === 0 ? 'rotation.committed' : 'notification.sent', actor: 'stage:rotate', correlationId: `sweep-${n % 97}`, data: { n, certificateId: `cert-${n % 500}`, fingerprint: 'ab'.repeat(32) } });
    }
    const appendPerSecond = records / ((performance.now() - appendStarted) / 1000);
    await signAuditHeads({ audit, auditSigner: signer, auditHeads, clock: systemClock });
    const verifyTimes: number[] = [];
    const bareTimes: number[] = [];
    const inMemory = await audit.list('contoso');
    for (let round = 0; round < rounds; round++) {
      let t = performance.now();
      const verdict = await verifyTenantAudit({ audit, auditSigner: signer, auditHeads }, 'contoso');
      verifyTimes.push(performance.now() - t);
      if (!verdict.ok || verdict.count !== records) throw new Error(`the untouched chain did not verify: ${JSON.stringify(verdict)}`);
      t = performance.now();
      let last = '';
      for (const { hash: _hash, ...content } of inMemory) last = createHmac('sha256', key).update(canonicalJson(content), 'utf8').digest('hex');
      bareTimes.push(performance.now() - t);
      if (!last) throw new Error('nothing hashed');
    }
    const result = { records, verifyMs: median(verifyTimes), bareMs: median(bareTimes), appendPerSecond };
    log(`audit: verify ${result.verifyMs.toFixed(0)} ms (bare HMAC loop ${result.bareMs.toFixed(0)} ms), append ${appendPerSecond.toFixed(0)}/s`);
    return result;
  } finally {
    closeDatabase(db);
    rmSync(dir, { recursive: true, force: true });
  }
}
