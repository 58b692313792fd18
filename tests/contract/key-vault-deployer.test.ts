/**
 * KeyVaultDeployer, what only Key Vault shows (real SDK against the Key Vault stub): the versions a
 * deployment and a restore leave, the receipt's record of them, the PEM secret, and previous keys
 * that are not exportable. What every deployer shares (the new material served after deploy, the
 * old one after restore, twice, resumed, restore over nothing, foreign target types) is the
 * Deployer contract, run by key-vault-deployer.contract.test.ts.
 */
import { X509Certificate, createHash } from 'node:crypto';
import type { KeyVaultClients } from '../../shared/adapters/azure/key-vault-clients';
import { KeyVaultCertificateVault, PEM_CONTENT_TYPE, PKCS12_CONTENT_TYPE } from '../../shared/adapters/azure/key-vault-certificate-vault';
import { KeyVaultDeployer } from '../../shared/adapters/azure/key-vault-deployer';
import type { KeyVaultTarget } from '../../shared/config/model';
import { fixedClock } from '../../shared/domain/clock';
import { PermanentError } from '../../shared/domain/errors';
import type { CertificateMaterial, DeploymentReceipt } from '../../shared/ports/deployer';
import { startKeyVaultStubWithClients, type KeyVaultStub } from '../support/key-vault-stub';
import { aCA, aCertificate, type TestCertificate } from '../support/x509-builders';

const NAME = 'www-contoso';

async function aMaterial(ca: TestCertificate): Promise<CertificateMaterial> {
  const leaf = await aCertificate({ issuer: ca, subject: 'CN=www.contoso.test', dnsNames: ['www.contoso.test'] });
  return { certificatePem: leaf.pem, chainPem: ca.pem, privateKeyPem: leaf.key.privateKeyPem };
}

function thumbprintOf(material: CertificateMaterial): string {
  return createHash('sha1').update(new X509Certificate(material.certificatePem).raw).digest('hex');
}

describe('KeyVaultDeployer against the Key Vault stub', () => {
  let stub: KeyVaultStub;
  let clients: KeyVaultClients;
  let vault: KeyVaultCertificateVault;
  let deployer: KeyVaultDeployer;
  let target: KeyVaultTarget;
  let first: CertificateMaterial;
  let second: CertificateMaterial;

  beforeAll(async () => {
    const ca = await aCA();
    [first, second] = await Promise.all([aMaterial(ca), aMaterial(ca)]);
  });
  beforeEach(async () => {
    ({ stub, clients } = await startKeyVaultStubWithClients({ selfSignAfterPolls: 0, maxRetries: 0 }));
    vault = new KeyVaultCertificateVault(clients.certificates, { pollIntervalInMs: 5 });
    target = { type: 'key-vault', vaultUrl: stub.url, certificateName: NAME };
    deployer = new KeyVaultDeployer({
      clientsFor: (url) => {
        if (url !== stub.url) throw new Error(`unexpected vault ${url}`);
        return clients;
      },
      clock: fixedClock('2026-05-01T10:00:00Z'),
      pollIntervalInMs: 5,
    });
  });
  afterEach(async () => {
    await stub.close();
  });

  it.each([
    { case: 'the certificate did not exist', earlier: [] as Array<'first'> },
    { case: 'a certificate existed', earlier: ['first'] as Array<'first'> },
  ])('When $case, then deploy imports a new PEM version and the receipt names it and the version that served before', async ({ earlier }) => {
    const before = earlier.length > 0 ? await deployer.deploy(target, first) : null;

    const receipt = await deployer.deploy(target, second);

    const versions = stub.certificateVersions(NAME);
    expect(versions).toHaveLength(earlier.length + 1);
    expect(receipt).toMatchObject({ target, deployedAt: '2026-05-01T10:00:00.000Z' });
    expect(receipt.backup).toMatchObject({
      previousVersion: before?.backup.deployedVersion ?? null,
      previousKeyExportable: before ? 'true' : null,
      deployedVersion: versions[versions.length - 1].version,
    });
    expect(stub.secretVersions(NAME).map((v) => v.contentType)).toEqual(versions.map(() => PEM_CONTENT_TYPE));
  });

  it.each([
    { case: 'into an empty vault', earlier: [] as Array<'first'> },
    { case: 'over an earlier certificate', earlier: ['first'] as Array<'first'> },
  ])('When the same material is deployed again ($case, a resumed rotation), then no second version is made and the receipt is the same', async ({ earlier }) => {
    for (const _ of earlier) await deployer.deploy(target, first);
    const attempt = await deployer.deploy(target, second);
    const resumed = await deployer.deploy(target, second);

    expect(stub.certificateVersions(NAME)).toHaveLength(earlier.length + 1);
    expect(resumed.backup).toEqual(attempt.backup);
  });

  it('When a deployment is restored, then the previous version is imported again as the newest, and restoring twice adds no other version', async () => {
    await deployer.deploy(target, first);
    const receipt = await deployer.deploy(target, second);

    await deployer.restore(receipt);
    await deployer.restore(receipt);

    const versions = stub.certificateVersions(NAME);
    expect(versions.map((v) => v.enabled)).toEqual([true, true, true]);
    expect(versions[2].thumbprint).toBe(versions[0].thumbprint);
  });

  it('When nothing existed before the deployment, then restore disables the deployed version (it does not delete it: a soft-deleted name would refuse the next import)', async () => {
    const receipt = await deployer.deploy(target, first);

    await deployer.restore(receipt);

    expect(stub.certificateVersions(NAME)).toEqual([expect.objectContaining({ version: receipt.backup.deployedVersion, enabled: false })]);
    await expect(clients.secrets.getSecret(NAME)).rejects.toMatchObject({ statusCode: 403 });
  });

  it('When the previous version was disabled (restored away), then a new deployment records nothing as previous', async () => {
    await deployer.restore(await deployer.deploy(target, first));
    const receipt = await deployer.deploy(target, second);
    expect(receipt.backup.previousVersion).toBeNull();
  });

  it.each([
    { case: 'the policy said so when deploying (PKCS#12)', contentType: PKCS12_CONTENT_TYPE, forgetPolicy: false },
    { case: 'only the PEM secret shows it (the receipt did not know)', contentType: PEM_CONTENT_TYPE, forgetPolicy: true },
    { case: 'only the PKCS#12 secret shows it (the receipt did not know)', contentType: PKCS12_CONTENT_TYPE, forgetPolicy: true },
  ] as const)('When the previous key is not exportable and $case, then restore throws PermanentError asking a human to act', async ({ contentType, forgetPolicy }) => {
    await vault.createWithPolicy(NAME, { subject: 'CN=www.contoso.test', keyType: 'ec-p256', exportable: false, contentType });
    const receipt = await deployer.deploy(target, second);
    expect(receipt.backup.previousKeyExportable).toBe('false');
    const given: DeploymentReceipt = forgetPolicy ? { ...receipt, backup: { ...receipt.backup, previousKeyExportable: null } } : receipt;

    const restore = deployer.restore(given);
    await expect(restore).rejects.toBeInstanceOf(PermanentError);
    await expect(restore).rejects.toThrow(/private key is not exportable.*a human must/);
    expect((await vault.get(NAME))?.thumbprintSha1).toBe(thumbprintOf(second)); // nothing changed
  });

  describe('Defect 10: retired private keys stay forever', () => {
    it('When a deployment over an earlier version is retired, then that version is disabled (its key no longer readable through its secret) and the deployed version still serves', async () => {
      const before = await deployer.deploy(target, first);
      const receipt = await deployer.deploy(target, second);

      await deployer.retire(receipt);

      expect(stub.certificateVersions(NAME)).toEqual([
        expect.objectContaining({ version: before.backup.deployedVersion, enabled: false }),
        expect.objectContaining({ version: receipt.backup.deployedVersion, enabled: true }),
      ]);
      await expect(clients.secrets.getSecret(NAME, { version: before.backup.deployedVersion! })).rejects.toMatchObject({ statusCode: 403 });
      expect((await vault.get(NAME))?.thumbprintSha1).toBe(thumbprintOf(second));
    });

    it('When retire runs again, then it sends no second disable and the vault is unchanged', async () => {
      await deployer.deploy(target, first);
      const receipt = await deployer.deploy(target, second);
      await deployer.retire(receipt);
      const versions = stub.certificateVersions(NAME);
      const patches = stub.requests.filter((r) => r.method === 'PATCH').length;

      await deployer.retire(receipt);

      expect(stub.certificateVersions(NAME)).toEqual(versions);
      expect(stub.requests.filter((r) => r.method === 'PATCH')).toHaveLength(patches);
    });

    it('When the version the receipt names as previous is the one the certificate serves now, then retire refuses to disable it with PermanentError (it would take the services down)', async () => {
      await deployer.deploy(target, first);
      const receipt = await deployer.deploy(target, second);
      await deployer.restore(receipt); // the previous material is the newest version again
      const afterRestore = stub.certificateVersions(NAME);
      const served = { ...receipt, backup: { ...receipt.backup, previousVersion: afterRestore[afterRestore.length - 1].version } };

      await expect(deployer.retire(served)).rejects.toThrow(/serves version .* now.*it is not disabled/);
      expect(stub.certificateVersions(NAME)).toEqual(afterRestore);
    });
  });

  describe('Defect 2: a rotation committed with zero verification (a Key Vault target proves itself by reading back)', () => {
    const sha256Of = (material: CertificateMaterial) => createHash('sha256').update(new X509Certificate(material.certificatePem).raw).digest('hex');

    it('When a deployment is read back, then the SHA-256 (hex, of the DER) of the certificate in the deployed version comes back, even after a later version', async () => {
      const receipt = await deployer.deploy(target, first);
      expect(await deployer.readBack(receipt)).toEqual({ fingerprintSha256: sha256Of(first) });

      await deployer.deploy(target, second);

      expect(await deployer.readBack(receipt)).toEqual({ fingerprintSha256: sha256Of(first) });
    });

    it.each([
      { case: 'the deployed version does not exist in the vault', spoil: (r: DeploymentReceipt) => ({ ...r, backup: { ...r.backup, deployedVersion: '0123456789abcdef0123456789abcdef' } }) },
      { case: 'the certificate does not exist in the vault', spoil: (r: DeploymentReceipt) => ({ ...r, target: { ...target, certificateName: 'never-deployed' }, backup: { ...r.backup, certificateName: 'never-deployed' } }) },
    ])('When $case, then readBack answers null', async ({ spoil }) => {
      const receipt = await deployer.deploy(target, first);

      expect(await deployer.readBack(spoil(receipt))).toBeNull();
    });

    it('When the deployed version was disabled (a deployment over nothing, restored), then readBack answers null: nothing serves it', async () => {
      const receipt = await deployer.deploy(target, first);
      await deployer.restore(receipt);

      expect(await deployer.readBack(receipt)).toBeNull();
    });
  });

  it('When the target is not a Key Vault target, then it is refused before any request reaches the vault', async () => {
    const files = { type: 'files', certFile: '/tmp/c.pem', keyFile: '/tmp/k.pem' } as const;
    await expect(deployer.deploy(files, first)).rejects.toThrow(PermanentError);
    expect(stub.requests).toHaveLength(0);
  });
});
