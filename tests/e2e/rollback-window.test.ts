/**
 * Issue 11, defect 10: "Retired private keys stay forever" (`<keyFile>.certops-prev`, disabled Key
 * Vault versions). The previous key is deleted once the rollback window ends (policy
 * rollbackWindowDays, default 7), after which an override is refused saying so; a later rotation
 * retires the one it supersedes; a renewal whose reason is key compromise keeps no previous key
 * once it commits and asks the CA that issued the old certificate to revoke it (ACME: see
 * tests/e2e/key-compromise-acme.test.ts; certops' own CA publishes no revocation, which is recorded).
 *
 * Real parts: a TLS server reloaded from files, certops' own CA, the files deployer, the
 * key-retirement job as the scheduler runs it.
 */
import { existsSync } from 'node:fs';
import type { EmbeddedRuntime } from '../../shared/composition-root';
import { BACKUP_SUFFIX } from '../../shared/adapters/local/files-deployer';
import { MS_PER_DAY } from '../../shared/domain/clock';
import { retireDueRollbacks } from '../../shared/pipeline/key-retirement';
import { aCrashWorld, CERTIFICATE, TENANT, type CrashWorld } from '../support/rotation-crash-world';

jest.setTimeout(60_000);

let world: CrashWorld;
let runtime: EmbeddedRuntime;

async function aWorld(rollbackWindowMs: number): Promise<void> {
  world = await aCrashWorld({ reloadTo: 'web' });
  world.config.tenants[0].policy = { rollbackWindowDays: rollbackWindowMs / MS_PER_DAY };
  runtime = world.inProcess();
  runtime.pipeline.start();
}

afterEach(async () => {
  await runtime?.close();
  await world?.close();
});

const keyBackup = () => `${world.files.keyFile}${BACKUP_SUFFIX}`;
const state = () => runtime.deps.store.getManagedState(TENANT, CERTIFICATE);
const audited = async (kind: string) => (await runtime.deps.audit.list(TENANT)).filter((r) => r.kind === kind).map((r) => r.data);

describe('Defect 10: retired private keys stay forever', () => {
  it('When the rollback window of a committed rotation ends, then the key-retirement job deletes the previous key and an override is refused saying the window ended', async () => {
    await aWorld(1_000);
    await runtime.pipeline.sweep({ reason: 'due' });
    expect((await state())?.rotation?.state).toBe('committed');
    expect(existsSync(keyBackup())).toBe(true); // kept: the human may still undo it
    expect(await retireDueRollbacks(runtime.deps)).toEqual([]);

    await new Promise((resolve) => setTimeout(resolve, 1_100));
    expect(await retireDueRollbacks(runtime.deps)).toEqual([{ tenantId: TENANT, certificateId: CERTIFICATE, retired: 'window-ended', revoked: null }]);
    expect(existsSync(keyBackup())).toBe(false);
    expect((await state())?.rotation?.retired?.why).toBe('window-ended');
    expect(await audited('rotation.retired')).toEqual([expect.objectContaining({ why: 'window-ended' })]);
    expect(await retireDueRollbacks(runtime.deps)).toEqual([]); // once

    await expect(runtime.pipeline.override({ tenantId: TENANT, certificateId: CERTIFICATE, reason: 'too late', actor: 'cli:test' })).rejects.toThrow(/can no longer be undone: the previous key was deleted .* rollback window ended/);
    expect(await world.served()).toBe((await state())?.deployedFingerprint);
  });

  it('When a later rotation replaces a committed one inside its window, then the earlier one is retired (superseded) before the new one starts', async () => {
    await aWorld(7 * MS_PER_DAY);
    await runtime.pipeline.sweep({ reason: 'due' });
    const first = (await state())!.rotation!;
    await runtime.pipeline.requestRenewal({ tenantId: TENANT, certificateId: CERTIFICATE, reason: 'operator' });
    expect((await state())?.rotation?.state).toBe('committed');
    expect(await audited('rotation.retired')).toEqual([expect.objectContaining({ rotationId: first.rotationId, why: 'superseded' })]);
    // What the backup holds now is the first rotation's certificate's key (the one just replaced), not the original.
    expect(existsSync(keyBackup())).toBe(true);
  });

  it('When a renewal replaces a compromised key, then nothing of the old key is kept once it commits, the revocation outcome is recorded, and it cannot be undone', async () => {
    await aWorld(7 * MS_PER_DAY);
    await runtime.pipeline.sweep({ reason: 'due' }); // certops' own CA issues the certificate that gets compromised
    await runtime.pipeline.requestRenewal({ tenantId: TENANT, certificateId: CERTIFICATE, reason: 'key leaked in a ticket', keyCompromise: true });
    const rotation = (await state())!.rotation!;
    expect(rotation).toMatchObject({ state: 'committed', reason: 'KeyCompromise:key leaked in a ticket', retired: { why: 'key-compromise' } });
    expect(existsSync(keyBackup())).toBe(false);
    // certops' own CA keeps no revocation list: recorded as such (an ACME CA revokes: key-compromise-acme.test.ts).
    expect(rotation.revocation?.outcome).toBe('issuer-cannot-revoke');
    expect(await audited('certificate.revocation')).toEqual([expect.objectContaining({ outcome: 'issuer-cannot-revoke' })]);
    await expect(runtime.pipeline.override({ tenantId: TENANT, certificateId: CERTIFICATE, reason: 'undo', actor: 'cli:test' })).rejects.toThrow(/the key it replaced was compromised/);
    expect(await world.served()).toBe(rotation.issued!.fingerprint);
  });
});
