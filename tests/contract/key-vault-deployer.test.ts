import { X509Certificate, createHash } from 'node:crypto';
import { createCertificate, generateKeyPair, type KeyPair } from '../../shared/adapters/local/certificate-factory';
import { createKeyVaultClients, type KeyVaultClients } from '../../shared/adapters/azure/key-vault-clients';
import { KeyVaultCertificateVault, PEM_CONTENT_TYPE, PKCS12_CONTENT_TYPE } from '../../shared/adapters/azure/key-vault-certificate-vault';
import { KeyVaultDeployer } from '../../shared/adapters/azure/key-vault-deployer';
import type { KeyVaultTarget } from '../../shared/config/model';
import { fixedClock } from '../../shared/domain/clock';
import { PermanentError } from '../../shared/domain/errors';
import type { CertificateMaterial, DeploymentReceipt } from '../../shared/ports/deployer';
import { FakeCredential } from '../support/fake-credential';
import { startKeyVaultStub, type KeyVaultStub } from '../support/key-vault-stub';

const HOUR = 3_600_000;
const NAME = 'www-contoso';

interface Ca {
  certificatePem: string;
  key: KeyPair;
}

async function aCa(): Promise<Ca> {
  const key = await generateKeyPair('ec-p256');
  const ca = await createCertificate({ subject: 'CN=Contoso Test CA', isCA: true, key, notBefore: new Date(Date.now() - HOUR), notAfter: new Date(Date.now() + 48 * HOUR) });
  return { certificatePem: ca.certificatePem, key };
}

async function aMaterial(ca: Ca): Promise<CertificateMaterial> {
  const key = await generateKeyPair('ec-p256');
  const leaf = await createCertificate({
    subject: 'CN=www.contoso.test',
    dnsNames: ['www.contoso.test'],
    key,
    issuer: ca,
    notBefore: new Date(Date.now() - HOUR),
    notAfter: new Date(Date.now() + 24 * HOUR),
  });
  return { certificatePem: leaf.certificatePem, chainPem: ca.certificatePem, privateKeyPem: key.privateKeyPem };
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
  let ca: Ca;
  let first: CertificateMaterial;
  let second: CertificateMaterial;

  beforeAll(async () => {
    ca = await aCa();
    [first, second] = await Promise.all([aMaterial(ca), aMaterial(ca)]);
  });
  beforeEach(async () => {
    stub = await startKeyVaultStub({ selfSignAfterPolls: 0 });
    clients = createKeyVaultClients(stub.url, new FakeCredential(), stub.clientOptions({ maxRetries: 0 }));
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

  it('When the certificate did not exist, then deploy imports it with chain and key, and the receipt has no previous version', async () => {
    const receipt = await deployer.deploy(target, first);

    const latest = await vault.get(NAME);
    expect(latest?.thumbprintSha1).toBe(thumbprintOf(first));
    expect(receipt).toMatchObject({ target, deployedAt: '2026-05-01T10:00:00.000Z', backup: { previousVersion: null, deployedVersion: latest?.version } });
    const secret = await clients.secrets.getSecret(NAME);
    expect(secret.properties.contentType).toBe(PEM_CONTENT_TYPE);
    expect(secret.value).toContain('PRIVATE KEY');
    expect(secret.value).toContain(ca.certificatePem.split('\n')[1]);
  });

  it('When a certificate existed, then deploy adds a version and the receipt names the one that served before', async () => {
    const before = await deployer.deploy(target, first);
    const receipt = await deployer.deploy(target, second);

    expect(receipt.backup).toMatchObject({ previousVersion: before.backup.deployedVersion, previousKeyExportable: 'true' });
    expect(stub.certificateVersions(NAME)).toHaveLength(2);
    expect((await vault.get(NAME))?.thumbprintSha1).toBe(thumbprintOf(second));
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

  it('When a deployment is restored, then the previous certificate is the latest again, and restoring twice adds nothing', async () => {
    await deployer.deploy(target, first);
    const receipt = await deployer.deploy(target, second);

    await deployer.restore(receipt);
    await deployer.restore(receipt);

    expect((await vault.get(NAME))?.thumbprintSha1).toBe(thumbprintOf(first));
    expect(stub.certificateVersions(NAME).map((v) => v.enabled)).toEqual([true, true, true]);
    expect(stub.certificateVersions(NAME)).toHaveLength(3);
    const restoredSecret = await clients.secrets.getSecret(NAME);
    expect(restoredSecret.value).toContain('PRIVATE KEY'); // the restored version can be served
  });

  it('When nothing existed before the deployment, then restore disables the deployed version', async () => {
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

  it('When the target is not a Key Vault target, then deploy refuses it permanently', async () => {
    const files = { type: 'files', certFile: '/tmp/c.pem', keyFile: '/tmp/k.pem' } as const;
    await expect(deployer.deploy(files, first)).rejects.toThrow(PermanentError);
    expect(stub.requests).toHaveLength(0);
  });
});
