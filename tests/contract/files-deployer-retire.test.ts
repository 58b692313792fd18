/**
 * FilesDeployer.retire, what only files show: the `.certops-prev` backups (the previous private
 * key above all) are deleted from disk, the manifest stops offering them to a resumed deployment,
 * and a later deployment's backups are not this receipt's to delete. What every deployer shares
 * (restore refused after retire, twice, the next rotation's rollback) is in the Deployer contract.
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FilesDeployer } from '../../shared/adapters/local/files-deployer';
import type { FilesTarget } from '../../shared/config/model';
import { fixedClock } from '../../shared/domain/clock';
import { PermanentError } from '../../shared/domain/errors';
import type { CertificateMaterial } from '../../shared/ports/deployer';
import { aCA, aCertificate } from '../support/x509-builders';

let dir: string;
let a: CertificateMaterial;
let b: CertificateMaterial;
let c: CertificateMaterial;

beforeAll(async () => {
  const ca = await aCA();
  [a, b, c] = await Promise.all(
    ['a.contoso.test', 'b.contoso.test', 'c.contoso.test'].map(async (name) => {
      const leaf = await aCertificate({ issuer: ca, dnsNames: [name], subject: `CN=${name}` });
      return { certificatePem: leaf.pem, chainPem: ca.pem, privateKeyPem: leaf.key.privateKeyPem };
    }),
  );
});
beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'certops-retire-'));
});
afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const deployer = () => new FilesDeployer({ clock: fixedClock('2030-06-01T00:00:00Z') });
const aTarget = (): FilesTarget => ({ type: 'files', certFile: path.join(dir, 'site.crt'), chainFile: path.join(dir, 'chain.pem'), keyFile: path.join(dir, 'site.key') });
const exists = (file: string) => fs.stat(file).then(() => true, () => false);

/** Every byte under dir, concatenated: where a private key could still be lying around. */
async function allBytes(): Promise<string> {
  const names = await fs.readdir(dir);
  return (await Promise.all(names.map((n) => fs.readFile(path.join(dir, n), 'utf8')))).join('\n');
}

describe('Defect 10: retired private keys stay forever', () => {
  it('When B’s deployment over A is retired, then every backup the receipt names is deleted and A’s private key is nowhere on disk', async () => {
    const target = aTarget();
    await deployer().deploy(target, a);
    const receipt = await deployer().deploy(target, b);
    const backups = Object.values(receipt.backup).filter((p): p is string => typeof p === 'string' && p.endsWith('.certops-prev'));
    expect(backups).toHaveLength(3);
    expect(await allBytes()).toContain(a.privateKeyPem.trim());

    await deployer().retire(receipt);

    expect(await Promise.all(backups.map(exists))).toEqual([false, false, false]);
    expect(await allBytes()).not.toContain(a.privateKeyPem.trim());
    expect(await fs.readFile(target.keyFile, 'utf8')).toBe(b.privateKeyPem);
  });

  it('When B is deployed again after its deployment was retired (a resumed rotation), then the deleted backups are not offered again: the new receipt’s backups are fresh and hold B', async () => {
    const target = aTarget();
    await deployer().deploy(target, a);
    await deployer().retire(await deployer().deploy(target, b));

    const again = await deployer().deploy(target, b);

    expect(await fs.readFile(`${target.keyFile}.certops-prev`, 'utf8')).toBe(b.privateKeyPem);
    await deployer().restore(again);
    expect(await fs.readFile(target.keyFile, 'utf8')).toBe(b.privateKeyPem);
    expect(await allBytes()).not.toContain(a.privateKeyPem.trim());
  });

  it('When C was deployed after B, then retiring B’s older receipt leaves C’s backups alone (C can still be restored to B) and B’s receipt can no longer be restored', async () => {
    const target = aTarget();
    await deployer().deploy(target, a);
    const bReceipt = await deployer().deploy(target, b);
    const cReceipt = await deployer().deploy(target, c);

    await deployer().retire(bReceipt);

    expect(await fs.readFile(`${target.keyFile}.certops-prev`, 'utf8')).toBe(b.privateKeyPem);
    await expect(deployer().restore(bReceipt)).rejects.toThrow(PermanentError);
    expect(await fs.readFile(target.keyFile, 'utf8')).toBe(c.privateKeyPem);
    await deployer().restore(cReceipt);
    expect(await fs.readFile(target.keyFile, 'utf8')).toBe(b.privateKeyPem);
  });

  it('When the key file is a symlink, then retire deletes the backup beside the link and never the link’s target', async () => {
    const target = aTarget();
    await fs.mkdir(path.join(dir, 'archive'));
    await fs.writeFile(path.join(dir, 'archive', 'key1.pem'), a.privateKeyPem, { mode: 0o600 });
    await fs.symlink(path.join('archive', 'key1.pem'), target.keyFile);
    const receipt = await deployer().deploy(target, b);

    await deployer().retire(receipt);

    expect(await exists(`${target.keyFile}.certops-prev`)).toBe(false);
    expect((await fs.lstat(target.keyFile)).isSymbolicLink()).toBe(true);
    expect(await fs.readFile(path.join(dir, 'archive', 'key1.pem'), 'utf8')).toBe(b.privateKeyPem);
  });
});
