/**
 * FilesDeployer on the layouts servers really use: a key `0640 root:ssl-cert` that a service reads
 * through its group, certificates owned by another user, and symlinked paths (certbot's `live/`
 * links into `archive/`). Real files, real ownership: the tests run as root, so the files are
 * given to uid/gid 65534 (nobody/nogroup, the stand-in for ssl-cert) for real.
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FilesDeployer } from '../../shared/adapters/local/files-deployer';
import type { FilesTarget } from '../../shared/config/model';
import { fixedClock } from '../../shared/domain/clock';
import { DeploymentError, type CertificateMaterial } from '../../shared/ports/deployer';
import { aCA, aCertificate } from '../support/x509-builders';

const OTHER = 65534;
let dir: string;
let a: CertificateMaterial;
let b: CertificateMaterial;

beforeAll(async () => {
  const ca = await aCA();
  [a, b] = await Promise.all(
    ['a.contoso.test', 'b.contoso.test'].map(async (name) => {
      const leaf = await aCertificate({ issuer: ca, dnsNames: [name], subject: `CN=${name}` });
      return { certificatePem: leaf.pem, chainPem: ca.pem, privateKeyPem: leaf.key.privateKeyPem };
    }),
  );
});
beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'certops-layouts-'));
  await fs.mkdir(path.join(dir, 'live'));
  await fs.mkdir(path.join(dir, 'archive'));
});
afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

interface Ownership {
  mode: number;
  uid: number;
  gid: number;
}

const deployer = () => new FilesDeployer({ clock: fixedClock('2030-06-01T00:00:00Z') });
const at = (...parts: string[]) => path.join(dir, ...parts);
const read = (file: string) => fs.readFile(file, 'utf8');

function aTarget(): FilesTarget {
  return { type: 'files', certFile: at('live', 'site.crt'), chainFile: at('live', 'chain.pem'), keyFile: at('live', 'site.key') };
}

/** The PEM a target file holds for `material`. */
function contentOf(material: CertificateMaterial, role: 'cert' | 'chain' | 'key'): string {
  return { cert: material.certificatePem, chain: material.chainPem, key: material.privateKeyPem }[role];
}

async function ownershipOf(file: string): Promise<Ownership> {
  const st = await fs.stat(file);
  return { mode: st.mode & 0o777, uid: st.uid, gid: st.gid };
}

async function give(file: string, to: Ownership): Promise<void> {
  await fs.chown(file, to.uid, to.gid);
  await fs.chmod(file, to.mode);
}

/** Every entry under dir: its kind, link target or bytes, and ownership; compared whole to prove nothing changed. */
async function everything(root = dir): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const name of (await fs.readdir(root)).sort()) {
    const full = path.join(root, name);
    const st = await fs.lstat(full);
    const key = path.relative(dir, full);
    if (st.isSymbolicLink()) out[key] = { link: await fs.readlink(full) };
    else if (st.isDirectory()) Object.assign(out, { [key]: 'dir' }, await everything(full));
    else out[key] = { bytes: await read(full), mode: st.mode & 0o777, uid: st.uid, gid: st.gid, links: st.nlink };
  }
  return out;
}

describe('FilesDeployer on an empty target', () => {
  it('When nothing exists yet, then a new key is 0600 and new public files 0644, owned by certops', async () => {
    const target = aTarget();

    await deployer().deploy(target, a);

    const certops = { uid: process.getuid!(), gid: process.getgid!() };
    expect(await ownershipOf(target.keyFile)).toEqual({ mode: 0o600, ...certops });
    expect(await ownershipOf(target.certFile)).toEqual({ mode: 0o644, ...certops });
    expect(await ownershipOf(target.chainFile!)).toEqual({ mode: 0o644, ...certops });
  });
});

describe('Defect 9: the files deployer breaks real key layouts', () => {
  it.each([
    { case: 'a 0640 key owned by root, group ssl-cert', role: 'key' as const, owner: { mode: 0o640, uid: 0, gid: OTHER } },
    { case: 'a 0600 key owned by the service user', role: 'key' as const, owner: { mode: 0o600, uid: OTHER, gid: OTHER } },
    { case: 'a 0444 certificate owned by another user and group', role: 'cert' as const, owner: { mode: 0o444, uid: OTHER, gid: OTHER } },
    { case: 'a 0640 chain file of group ssl-cert', role: 'chain' as const, owner: { mode: 0o640, uid: 0, gid: OTHER } },
  ])('When $case is replaced, then it keeps its owner, group and mode, so does its backup, and so does the file restore puts back', async ({ role, owner }) => {
    const target = aTarget();
    const file = { cert: target.certFile, chain: target.chainFile!, key: target.keyFile }[role];
    await deployer().deploy(target, a);
    await give(file, owner);

    const receipt = await deployer().deploy(target, b);

    expect(await read(file)).toBe(contentOf(b, role));
    expect(await ownershipOf(file)).toEqual(owner);
    expect(await read(`${file}.certops-prev`)).toBe(contentOf(a, role));
    expect(await ownershipOf(`${file}.certops-prev`)).toEqual(owner);

    await deployer().restore(receipt);

    expect(await read(file)).toBe(contentOf(a, role));
    expect(await ownershipOf(file)).toEqual(owner);
  });

  it.each([
    { case: 'the key file', role: 'key' as const, owner: { mode: 0o640, uid: 0, gid: OTHER } },
    { case: 'the certificate file', role: 'cert' as const, owner: { mode: 0o644, uid: OTHER, gid: OTHER } },
  ])('When $case is a symlink into archive/ (certbot’s layout), then deploy and restore write through it: the link stays the same link, its target gets the bytes and keeps owner, group and mode', async ({ role, owner }) => {
    const target = aTarget();
    const link = { cert: target.certFile, key: target.keyFile }[role];
    const real = at('archive', `${role}1.pem`);
    await fs.writeFile(real, contentOf(a, role));
    await give(real, owner);
    await fs.symlink(path.join('..', 'archive', `${role}1.pem`), link);

    const receipt = await deployer().deploy(target, b);

    expect((await fs.lstat(link)).isSymbolicLink()).toBe(true);
    expect(await fs.readlink(link)).toBe(path.join('..', 'archive', `${role}1.pem`));
    expect(await read(real)).toBe(contentOf(b, role));
    expect(await ownershipOf(real)).toEqual(owner);
    // The backup beside the link is a file of its own, holding what the link's target held, owned alike.
    expect((await fs.lstat(`${link}.certops-prev`)).isFile()).toBe(true);
    expect(await read(`${link}.certops-prev`)).toBe(contentOf(a, role));
    expect(await ownershipOf(`${link}.certops-prev`)).toEqual(owner);
    expect([...(await fs.readdir(at('archive'))), ...(await fs.readdir(at('live')))].filter((f) => f.includes('certops-tmp'))).toEqual([]);

    await deployer().restore(receipt);

    expect((await fs.lstat(link)).isSymbolicLink()).toBe(true);
    expect(await read(real)).toBe(contentOf(a, role));
    expect(await ownershipOf(real)).toEqual(owner);
  });

  it.each([
    {
      case: 'the key file is a dangling symlink (certops would create a file wherever the link points)',
      arrange: () => fs.symlink(path.join('..', 'archive', 'missing.pem'), at('live', 'site.key')),
      says: /site\.key is a symbolic link to .*missing\.pem, which does not exist/,
    },
    {
      case: 'the key file is a symlink loop',
      arrange: async () => {
        await fs.symlink('loop-b', at('live', 'site.key'));
        await fs.symlink('site.key', at('live', 'loop-b'));
      },
      says: /site\.key is a symbolic link that cannot be followed/,
    },
    {
      case: 'the certificate file is a symlink to a directory',
      arrange: () => fs.symlink(path.join('..', 'archive'), at('live', 'site.crt')),
      says: /site\.crt is not a regular file/,
    },
    {
      case: 'the certificate path is a directory',
      arrange: () => fs.mkdir(at('live', 'site.crt')),
      says: /site\.crt is not a regular file/,
    },
    {
      case: 'the key file has a second hard link (a rename would leave the other name holding the old key)',
      arrange: async () => {
        await fs.writeFile(at('live', 'site.key'), a.privateKeyPem, { mode: 0o600 });
        await fs.link(at('live', 'site.key'), at('archive', 'same-key.pem'));
      },
      says: /site\.key has 2 hard links/,
    },
    {
      case: 'the certificate and key paths are symlinks to one file',
      arrange: async () => {
        await fs.writeFile(at('archive', 'both.pem'), 'both', { mode: 0o600 });
        await fs.symlink(path.join('..', 'archive', 'both.pem'), at('live', 'site.crt'));
        await fs.symlink(path.join('..', 'archive', 'both.pem'), at('live', 'site.key'));
      },
      says: /must be different files/,
    },
  ])('When $case, then the deploy is refused with a DeploymentError saying why, and nothing on disk changes', async ({ arrange, says }) => {
    await arrange();
    const before = await everything();

    const error = await deployer().deploy(aTarget(), b).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(DeploymentError);
    expect((error as Error).message).toMatch(says);
    expect(await everything()).toEqual(before);
  });
});
