/**
 * The Deployer contract (shared/ports/deployer.ts), written once and run against every adapter:
 * `deployerContract('FilesDeployer', makeFixture)`. A fixture is a fresh, empty target of the type
 * the deployer handles, and a way to look at what that target holds now (`inspect`), read around
 * the deployer (the files themselves, the vault through its own SDK client).
 *
 * Material identity is the certificate's SHA-256 fingerprint, the chain's fingerprints and the
 * fingerprint of the public key of the private key the target holds: what a server loading the
 * target would present. An adapter may add `detail` (the files' bytes and the key file's mode):
 * a restore must bring that back too, since the comparisons are whole.
 *
 * Retire ends the rollback window: afterwards the receipt's restore is refused permanently and the
 * target keeps what it holds; the next deployment still gets a rollback of its own.
 */
import { createHash, createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import type { DeploymentTarget, DeploymentTargetType } from '../../shared/config/model';
import { PermanentError } from '../../shared/domain/errors';
import type { CertificateMaterial, Deployer, DeploymentReceipt } from '../../shared/ports/deployer';
import { aCA, aCertificate, type TestCertificate } from '../support/x509-builders';

/** What a target serves, as a client would see it. */
export interface HeldMaterial {
  /** SHA-256 (hex) of the leaf certificate's DER. */
  certificateSha256: string;
  /** SHA-256 (hex) of each chain certificate's DER, in the order held. */
  chainSha256: string[];
  /** SHA-256 (hex) of the SubjectPublicKeyInfo of the held private key. */
  publicKeySha256: string;
  /** Anything more the adapter can see; compared whole (files: bytes and the key file's mode). */
  detail?: unknown;
}

export interface DeployerFixture {
  deployer: Deployer;
  /** A target of a type the deployer handles, holding nothing yet. */
  target: DeploymentTarget;
  /** What the target holds now; null when nothing is deployed there (files: no files; Key Vault: no enabled latest version). */
  inspect(): Promise<HeldMaterial | null>;
  close(): Promise<void>;
}

/** One target of every type, for the refusal cases; none of them is ever reachable. */
const A_TARGET_OF_EVERY_TYPE: Record<DeploymentTargetType, DeploymentTarget> = {
  files: { type: 'files', certFile: '/nonexistent/certops/site.crt', keyFile: '/nonexistent/certops/site.key' },
  'key-vault': { type: 'key-vault', vaultUrl: 'https://contoso.vault.invalid', certificateName: 'www-contoso' },
  'app-service': { type: 'app-service', resourceId: '/subscriptions/0/resourceGroups/rg/providers/Microsoft.Web/sites/www' },
  'front-door': { type: 'front-door', resourceId: '/subscriptions/0/resourceGroups/rg/providers/Microsoft.Cdn/profiles/fd' },
  'application-gateway': { type: 'application-gateway', resourceId: '/subscriptions/0/resourceGroups/rg/providers/Microsoft.Network/applicationGateways/agw' },
  'rmm-script': { type: 'rmm-script', rmm: 'ninjaone', deviceId: 'd1', site: 'Default Web Site' },
};

const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

/** The PEM CERTIFICATE blocks of a bundle, in order. */
export function pemCertificateBlocks(bundle: string): string[] {
  return bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

/**
 * The identity of what a target holds, from its PEM: `certificates` leaf first (then the chain),
 * `privateKey` any PEM holding one PRIVATE KEY block.
 */
export function heldFromPem(certificates: string, privateKey: string, detail?: unknown): HeldMaterial {
  const [leaf, ...chain] = pemCertificateBlocks(certificates).map((pem) => sha256(new X509Certificate(pem).raw));
  if (!leaf) throw new Error('the target holds no certificate');
  const keyPem = privateKey.match(/-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]+?-----END [A-Z ]*PRIVATE KEY-----/)?.[0];
  if (!keyPem) throw new Error('the target holds no private key');
  const spki = createPublicKey(createPrivateKey(keyPem)).export({ type: 'spki', format: 'der' });
  return { certificateSha256: leaf, chainSha256: chain, publicKeySha256: sha256(spki), ...(detail === undefined ? {} : { detail }) };
}

/** What a target holding `material` must show (detail aside). */
function identityOf(material: CertificateMaterial): HeldMaterial {
  return heldFromPem(`${material.certificatePem}\n${material.chainPem}`, material.privateKeyPem);
}

function materialFrom(leaf: TestCertificate, ca: TestCertificate): CertificateMaterial {
  return { certificatePem: leaf.pem, chainPem: ca.pem, privateKeyPem: leaf.key.privateKeyPem };
}

export function deployerContract(name: string, makeFixture: () => Promise<DeployerFixture>): void {
  describe(`${name} (Deployer contract)`, () => {
    let a: CertificateMaterial;
    let b: CertificateMaterial;
    let fixture: DeployerFixture;

    beforeAll(async () => {
      const ca = await aCA();
      const [leafA, leafB] = await Promise.all(['a.contoso.test', 'b.contoso.test'].map((dns) => aCertificate({ issuer: ca, dnsNames: [dns], subject: `CN=${dns}` })));
      [a, b] = [materialFrom(leafA, ca), materialFrom(leafB, ca)];
    });
    beforeEach(async () => {
      fixture = await makeFixture();
    });
    afterEach(async () => {
      await fixture.close();
    });

    /** Deploys A (what the server runs before the rotation) and returns what the target then holds. */
    async function withADeployed(): Promise<HeldMaterial> {
      await fixture.deployer.deploy(fixture.target, a);
      const held = await fixture.inspect();
      expect(held).toMatchObject(identityOf(a));
      return held!;
    }

    it('When material is deployed to an empty target, then the receipt names the target and the target holds that material', async () => {
      expect(await fixture.inspect()).toBeNull();

      const receipt = await fixture.deployer.deploy(fixture.target, b);

      expect(fixture.deployer.handles).toContain(fixture.target.type);
      expect(receipt.target).toEqual(fixture.target);
      expect(new Date(receipt.deployedAt).toISOString()).toBe(receipt.deployedAt);
      expect(await fixture.inspect()).toMatchObject(identityOf(b));
    });

    it('When B is deployed over A and the receipt is restored, then A is held again exactly as before', async () => {
      const before = await withADeployed();
      const receipt = await fixture.deployer.deploy(fixture.target, b);
      expect(await fixture.inspect()).toMatchObject(identityOf(b));

      await fixture.deployer.restore(receipt);

      expect(await fixture.inspect()).toEqual(before);
    });

    it('When a receipt is restored twice, then the second restore changes nothing', async () => {
      const before = await withADeployed();
      const receipt = await fixture.deployer.deploy(fixture.target, b);

      await fixture.deployer.restore(receipt);
      await fixture.deployer.restore(receipt);

      expect(await fixture.inspect()).toEqual(before);
    });

    it('When B is deployed again over itself (a resumed rotation whose first receipt was lost), then nothing changes, and restoring the second receipt gives A back', async () => {
      const before = await withADeployed();
      await fixture.deployer.deploy(fixture.target, b); // the first attempt; its receipt was lost in a crash
      const afterFirst = await fixture.inspect();

      const second = await fixture.deployer.deploy(fixture.target, b);
      expect(await fixture.inspect()).toEqual(afterFirst);
      await fixture.deployer.restore(second);
      expect(await fixture.inspect()).toEqual(before);
      await fixture.deployer.restore(second);
      expect(await fixture.inspect()).toEqual(before);
    });

    it.each([
      { case: 'deployed once', attempts: 1 },
      { case: 'deployed twice (a resumed rotation)', attempts: 2 },
    ])('When nothing existed before and B was $case, then restoring the last receipt, twice, leaves nothing deployed', async ({ attempts }) => {
      let receipt!: DeploymentReceipt;
      for (let i = 0; i < attempts; i++) receipt = await fixture.deployer.deploy(fixture.target, b);
      expect(await fixture.inspect()).toMatchObject(identityOf(b));

      await fixture.deployer.restore(receipt);
      expect(await fixture.inspect()).toBeNull();
      await fixture.deployer.restore(receipt);
      expect(await fixture.inspect()).toBeNull();
    });

    it('When a target is of a type the deployer does not handle, then deploy and restore refuse it with PermanentError naming the type, and the target keeps what it held', async () => {
      const before = await withADeployed();
      const foreign = Object.values(A_TARGET_OF_EVERY_TYPE).filter((t) => !fixture.deployer.handles.includes(t.type));
      expect(foreign.length).toBeGreaterThan(0);

      for (const target of foreign) {
        const deploying = fixture.deployer.deploy(target, b);
        await expect(deploying).rejects.toBeInstanceOf(PermanentError);
        await expect(deploying).rejects.toThrow(target.type);
        const receipt: DeploymentReceipt = { target, backup: {}, deployedAt: '2030-06-01T00:00:00.000Z' };
        await expect(fixture.deployer.restore(receipt)).rejects.toBeInstanceOf(PermanentError);
        await expect(fixture.deployer.retire(receipt)).rejects.toBeInstanceOf(PermanentError);
      }
      expect(await fixture.inspect()).toEqual(before);
    });

    describe('Defect 10: retired private keys stay forever', () => {
      /** A restore after retire: refused permanently, saying the window ended, and the target keeps what it held. */
      async function expectRestoreRefused(receipt: DeploymentReceipt, held: HeldMaterial | null): Promise<void> {
        const restoring = fixture.deployer.restore(receipt);
        await expect(restoring).rejects.toBeInstanceOf(PermanentError);
        await expect(restoring).rejects.toThrow(/rollback window .*ended.*nothing is left to restore/);
        expect(await fixture.inspect()).toEqual(held);
      }

      it('When the deployment of B over A is retired, then restore throws PermanentError saying the rollback window ended, B stays, and retiring again changes nothing', async () => {
        await withADeployed();
        const receipt = await fixture.deployer.deploy(fixture.target, b);
        const afterB = await fixture.inspect();

        await fixture.deployer.retire(receipt);
        await expectRestoreRefused(receipt, afterB);
        await fixture.deployer.retire(receipt);
        await expectRestoreRefused(receipt, afterB);
        expect(afterB).toMatchObject(identityOf(b));
      });

      it('When a deployment over nothing is retired, then restore refuses likewise instead of removing B', async () => {
        const receipt = await fixture.deployer.deploy(fixture.target, b);
        const afterB = await fixture.inspect();

        await fixture.deployer.retire(receipt);

        await expectRestoreRefused(receipt, afterB);
      });

      it('When A is deployed after B’s deployment was retired, then restoring A’s receipt gives B back: retire leaves the next rotation its own rollback', async () => {
        const first = await fixture.deployer.deploy(fixture.target, b);
        const afterB = await fixture.inspect();
        await fixture.deployer.retire(first);

        const next = await fixture.deployer.deploy(fixture.target, a);
        expect(await fixture.inspect()).toMatchObject(identityOf(a));
        await fixture.deployer.restore(next);

        expect(await fixture.inspect()).toEqual(afterB);
      });
    });
  });
}
