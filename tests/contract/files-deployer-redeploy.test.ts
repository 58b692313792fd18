/**
 * FilesDeployer when a rotation is resumed: the same material deployed again (after a crash
 * between writing the files and recording the receipt, or between the two renames) must keep the
 * backup of what was there BEFORE the first attempt, so a restore puts the old certificate back.
 *
 * The cases every deployer shares (a resumed deployment restored once and twice, in both layouts;
 * a resumed deployment over nothing; foreign target types) are in the Deployer contract
 * (deployer.contract.ts, run by files-deployer.contract.test.ts). Here: what only files have, a
 * crash between the renames, one backup generation overwritten per rotation, and the chain file.
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FilesDeployer } from '../../shared/adapters/local/files-deployer';
import type { FilesTarget } from '../../shared/config/model';
import { fixedClock } from '../../shared/domain/clock';
import type { CertificateMaterial } from '../../shared/ports/deployer';
import { aCA, aCertificate } from '../support/x509-builders';

let dir: string;

beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'certops-redeploy-'));
});
afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

/** Real material: a leaf signed by a fresh CA, with its own key (each call a different certificate and key). */
async function material(name: string): Promise<CertificateMaterial> {
  const ca = await aCA();
  const leaf = await aCertificate({ issuer: ca, dnsNames: [name], subject: `CN=${name}` });
  return { certificatePem: leaf.pem, chainPem: ca.pem, privateKeyPem: leaf.key.privateKeyPem };
}

function aTarget(overrides: Partial<FilesTarget> = {}): FilesTarget {
  return { type: 'files', certFile: path.join(dir, 'site.crt'), keyFile: path.join(dir, 'site.key'), ...overrides };
}

const deployer = () => new FilesDeployer({ clock: fixedClock('2030-06-01T00:00:00Z') });

/** The files of a target, byte for byte, with the key file's mode. */
async function snapshot(target: FilesTarget): Promise<{ cert: Buffer; chain: Buffer | null; key: Buffer; keyMode: number }> {
  return {
    cert: await fs.readFile(target.certFile),
    chain: target.chainFile ? await fs.readFile(target.chainFile) : null,
    key: await fs.readFile(target.keyFile),
    keyMode: (await fs.stat(target.keyFile)).mode & 0o777,
  };
}

describe.each([
  { layout: 'cert and key (chain appended to the cert)', target: () => aTarget() },
  { layout: 'cert, chain and key', target: () => aTarget({ chainFile: path.join(dir, 'chain.pem') }) },
])('FilesDeployer redeploy with $layout', ({ target: makeTarget }) => {
  it('When the cert file already holds B but the key file still holds A’s key (a crash between the renames), then deploying B and restoring gives A and A’s key back', async () => {
    const target = makeTarget();
    const [a, b] = await Promise.all([material('a.contoso.test'), material('b.contoso.test')]);
    await deployer().deploy(target, a);
    const beforeRotation = await snapshot(target);
    // The first attempt: backups made, then the process died after renaming the public files.
    await deployer().deploy(target, b);
    await fs.writeFile(target.keyFile, beforeRotation.key, { mode: 0o600 });
    expect((await fs.readFile(target.certFile)).equals(beforeRotation.cert)).toBe(false);

    const resumed = await deployer().deploy(target, b);
    expect((await fs.readFile(target.keyFile, 'utf8')).trim()).toBe(b.privateKeyPem.trim());
    await deployer().restore(resumed);

    expect(await snapshot(target)).toEqual({ ...beforeRotation, keyMode: 0o600 });
  });
});

describe('FilesDeployer across rotations', () => {
  it('When C is deployed after a committed B, then restore puts B back (not the older A): the backup follows the files, not the first deploy ever', async () => {
    const target = aTarget();
    const [a, b, c] = await Promise.all([material('a.contoso.test'), material('b.contoso.test'), material('c.contoso.test')]);
    await deployer().deploy(target, a);
    await deployer().deploy(target, b);
    const afterB = await snapshot(target);

    const receipt = await deployer().deploy(target, c);
    await deployer().restore(receipt);

    expect(await snapshot(target)).toEqual(afterB);
  });

  // A and B come from the same CA, so the chain file already holds B's chain before the first
  // attempt; the backup left by the rotation before (Z, another CA) must not be taken for A's.
  it('When B shares A’s chain file bytes and the rotation before changed CAs, then restore gives A’s chain back, not the older one', async () => {
    const target = aTarget({ chainFile: path.join(dir, 'chain.pem') });
    const [oldCa, newCa] = await Promise.all([aCA(), aCA()]);
    const signed = async (ca: typeof oldCa, name: string): Promise<CertificateMaterial> => {
      const leaf = await aCertificate({ issuer: ca, dnsNames: [name], subject: `CN=${name}` });
      return { certificatePem: leaf.pem, chainPem: ca.pem, privateKeyPem: leaf.key.privateKeyPem };
    };
    const z = await signed(oldCa, 'z.contoso.test');
    const a = await signed(newCa, 'a.contoso.test');
    const b = await signed(newCa, 'b.contoso.test');
    await deployer().deploy(target, z);
    await deployer().deploy(target, a); // the committed rotation before: chain backup is Z's CA
    const beforeRotation = await snapshot(target);

    const receipt = await deployer().deploy(target, b);
    await deployer().restore(receipt);

    expect((await fs.readFile(target.chainFile!, 'utf8')).trim()).toBe(newCa.pem.trim());
    expect(await snapshot(target)).toEqual({ ...beforeRotation, keyMode: 0o600 });
  });
});

describe('FilesDeployer target types', () => {
  it('When the deployer is asked what it handles, then it says files only', () => {
    expect(deployer().handles).toEqual(['files']);
  });
});
