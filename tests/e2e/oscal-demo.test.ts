/**
 * The OSCAL evidence of a demo run (`npm start`'s scenario: sweeps, rotations through the local CA
 * and ACME, the L1 loop over HTTP): `certops audit export --format oscal` per tenant validates
 * against NIST's OSCAL 1.2.1 Assessment Results schema, and carries every record of the run's
 * audit chain, hash for hash, with the chain's head.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { main } from '../../shared/cli/main';
import { runDemo } from '../../shared/demo/demo';
import { loadConfig } from '../../shared/config/load-config';
import { SqliteAuditLog, auditChainKey } from '../../shared/adapters/local/sqlite-audit-log';
import { closeDatabase, openDatabase } from '../../shared/adapters/local/sqlite-database';
import { loadOrCreateMasterKey } from '../../shared/adapters/local/sqlite-key-store';
import { systemClock } from '../../shared/domain/clock';
import type { AuditRecord } from '../../shared/ports/audit-log';
import { oscalErrors } from '../support/oscal-validator';

jest.setTimeout(120_000);

const quiet = () => new Writable({ write: (_c, _e, cb) => cb() });
let dir: string;
let configFile: string;
const records = new Map<string, AuditRecord[]>();

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'certops-oscal-demo-'));
  expect(await runDemo({ out: quiet(), workDir: dir })).toBe(0);
  configFile = path.join(dir, 'certops.json');
  const config = loadConfig(configFile);
  const db = openDatabase(path.join(config.dataDir, 'certops.db'));
  try {
    const audit = new SqliteAuditLog(db, systemClock, auditChainKey(loadOrCreateMasterKey(config.dataDir, {})));
    for (const tenant of await audit.tenants()) records.set(tenant, await audit.list(tenant));
  } finally {
    closeDatabase(db);
  }
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

it.each(['contoso', 'fabrikam'])('When the evidence of %s is exported after a demo run, then it is valid OSCAL 1.2.1 and holds every action of the run with the chain head', async (tenant) => {
  const out = path.join(dir, `${tenant}.oscal.json`);
  expect(await main(['audit', 'export', '--format', 'oscal', '--tenant', tenant, '--out', out, '--config', configFile], quiet())).toBe(0);
  const doc = JSON.parse(readFileSync(out, 'utf8')) as { 'assessment-results': { results: Array<{ 'assessment-log'?: { entries: Array<{ props?: Array<{ name: string; value: string }> }> } }>; 'back-matter': { resources: Array<{ props?: Array<{ name: string; value: string }> }> } } };
  expect(oscalErrors(doc)).toEqual([]);
  const run = records.get(tenant)!;
  expect(run.length).toBeGreaterThan(10);
  const text = JSON.stringify(doc);
  for (const record of run) expect(text).toContain(record.hash); // every action, hash for hash
  const entries = doc['assessment-results'].results.flatMap((r) => r['assessment-log']?.entries ?? []);
  expect(entries).toHaveLength(run.length);
  const headProps = doc['assessment-results']['back-matter'].resources.flatMap((r) => r.props ?? []);
  expect(headProps).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'chain-head-hash', value: run.at(-1)!.hash })]));
});
