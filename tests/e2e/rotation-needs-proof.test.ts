/**
 * Issue 11, defect 2: "A rotation can commit with zero verification." A managed certificate with
 * no endpoint passed "every address serves the new certificate" vacuously: `certops renew`
 * deployed, recorded `verified: []`, committed and exited 0. A commit now needs at least one
 * address verified, or a target whose deployer reads its deployment back (a Key Vault version);
 * the configuration refuses a certificate that nothing can verify (tests/unit/load-config.test.ts),
 * and the engine refuses to commit on no proof whatever configuration reaches it.
 *
 * Real parts: certops' own CA, the files deployer writing real files, the Key Vault stand-in
 * driven by the real SDK through the Key Vault deployer.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { KeyVaultClients } from '../../shared/adapters/azure/key-vault-clients';
import { KeyVaultCertificateVault } from '../../shared/adapters/azure/key-vault-certificate-vault';
import { KeyVaultDeployer } from '../../shared/adapters/azure/key-vault-deployer';
import { createEmbeddedRuntime, type EmbeddedRuntime } from '../../shared/composition-root';
import type { ManagedCertificateConfig } from '../../shared/config/model';
import { PermanentError } from '../../shared/domain/errors';
import { createLogger } from '../../shared/observability/logger';
import { aTestConfig } from '../support/config-builders';
import { startKeyVaultStubWithClients, type KeyVaultStub } from '../support/key-vault-stub';

jest.setTimeout(30_000);

let dir: string;
let runtime: EmbeddedRuntime | undefined;
let stub: KeyVaultStub | undefined;

beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'certops-needs-proof-'));
});
afterEach(async () => {
  await runtime?.close();
  await stub?.close();
  runtime = undefined;
  stub = undefined;
  rmSync(dir, { recursive: true, force: true });
});

/** One tenant whose only managed certificate no endpoint serves (the configuration file would refuse it; this builds it directly). */
function aRuntime(managed: ManagedCertificateConfig, options: { clients?: KeyVaultClients; readBack?: () => Promise<{ fingerprintSha256: string } | null> } = {}): EmbeddedRuntime {
  const config = aTestConfig(dir, { tenants: [{ id: 'acme', assignee: { name: 'Dana' }, endpoints: [], managedCertificates: [managed] }] });
  return createEmbeddedRuntime(config, {
    logger: createLogger({ level: 'silent' }),
    consoleStream: null,
    rotation: { verifyTimeoutMs: 300, verifyInitialDelayMs: 10, verifyMaxDelayMs: 50, verifySettleMs: 0 },
    deployers: options.clients ? [new KeyVaultDeployer({ clientsFor: () => options.clients!, pollIntervalInMs: 5 })] : [],
    // A vault that answers otherwise than the stand-in (fault injection).
    decorate: options.readBack ? (deps) => ({ ...deps, deployer: Object.assign(Object.create(deps.deployer), { readBack: options.readBack }) }) : undefined,
  });
}

async function renew(rt: EmbeddedRuntime) {
  rt.pipeline.start();
  const { sweepId } = await rt.pipeline.requestRenewal({ tenantId: 'acme', certificateId: 'web', reason: 'defect 2' });
  const state = await rt.deps.store.getManagedState('acme', 'web');
  expect(state?.rotation?.rotationId).toBe(`${sweepId}:web`);
  return state!;
}

describe('Defect 2: a rotation can commit with zero verification', () => {
  it('When no endpoint serves the certificate and its only target is files, then the rotation is not committed and says nothing proved it', async () => {
    const certFile = path.join(dir, 'web.crt');
    runtime = aRuntime({ id: 'web', dnsNames: ['www.acme.test'], issuer: 'local-ca', target: { type: 'files', certFile, keyFile: path.join(dir, 'web.key') } });
    const state = await renew(runtime);
    expect(state.rotation?.state).toBe('escalated');
    expect(state.rotation?.failure?.reason).toContain('nothing proved the new certificate is in place');
    expect(state.deployedFingerprint).toBeNull();
    expect(state.lastRotation?.outcome).not.toBe('committed');
    // Rolled back: the file the rotation wrote is gone again (there was none before).
    expect(existsSync(certFile)).toBe(false);
  });

  it('When no endpoint serves the certificate but Key Vault reads the new version back, then the rotation commits on that proof', async () => {
    const started = await startKeyVaultStubWithClients({ selfSignAfterPolls: 0, maxRetries: 0 });
    stub = started.stub;
    runtime = aRuntime({ id: 'web', dnsNames: ['www.acme.test'], issuer: 'local-ca', target: { type: 'key-vault', vaultUrl: stub.url, certificateName: 'web' } }, { clients: started.clients });
    const state = await renew(runtime);
    expect(state.rotation).toMatchObject({ state: 'committed', verified: [], readBack: [0] });
    const latest = await new KeyVaultCertificateVault(started.clients.certificates, { pollIntervalInMs: 5 }).get('web');
    expect(createHash('sha256').update(new X509Certificate(latest!.certificatePem).raw).digest('hex')).toBe(state.deployedFingerprint);
  });

  it('When Key Vault holds another certificate than the one deployed, then the rotation rolls back instead of committing', async () => {
    const started = await startKeyVaultStubWithClients({ selfSignAfterPolls: 0, maxRetries: 0 });
    stub = started.stub;
    runtime = aRuntime({ id: 'web', dnsNames: ['www.acme.test'], issuer: 'local-ca', target: { type: 'key-vault', vaultUrl: stub.url, certificateName: 'web' } }, { clients: started.clients, readBack: async () => ({ fingerprintSha256: 'f'.repeat(64) }) });
    const state = await renew(runtime);
    expect(state.rotation?.state).toBe('escalated');
    expect(state.rotation?.failure?.reason).toMatch(/key vault .* holds ffffffffffff, not the new certificate/);
  });

  it('When reading Key Vault back is refused for good, then the rotation rolls back instead of staying half-way', async () => {
    const started = await startKeyVaultStubWithClients({ selfSignAfterPolls: 0, maxRetries: 0 });
    stub = started.stub;
    const refused = async () => {
      throw new PermanentError('Key Vault refused: 403 Forbidden');
    };
    runtime = aRuntime({ id: 'web', dnsNames: ['www.acme.test'], issuer: 'local-ca', target: { type: 'key-vault', vaultUrl: stub.url, certificateName: 'web' } }, { clients: started.clients, readBack: refused });
    const state = await renew(runtime);
    expect(state.rotation?.state).toBe('escalated');
    expect(state.rotation?.failure?.reason).toContain('reading key vault');
    expect(await runtime.bus.deadLetters()).toEqual([]);
  });
});
