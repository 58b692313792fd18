import { promises as fs } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { createCertificate, generateKeyPair } from '../../shared/adapters/local/certificate-factory';
import { FilesDeployer, RECEIPT_MATERIAL_KEY, type DeployLogger } from '../../shared/adapters/local/files-deployer';
import type { FilesTarget } from '../../shared/config/model';
import { fixedClock, MS_PER_DAY } from '../../shared/domain/clock';
import { PermanentError } from '../../shared/domain/errors';
import { DeploymentError, type CertificateMaterial } from '../../shared/ports/deployer';
import { dumpEnvironmentCommand, putSecretsInParentEnvironment, readDumpedEnvironment } from '../support/environment-dump';

const NOW = new Date('2030-06-01T00:00:00Z');
let dir: string;

beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'certops-deployer-'));
});
afterEach(async () => {
  jest.restoreAllMocks();
  await fs.rm(dir, { recursive: true, force: true });
});

/** Real material: a CA and a leaf from the certificate factory, so the files are what a server would load. */
async function someMaterial(name = 'www.contoso.test'): Promise<CertificateMaterial> {
  const caKey = await generateKeyPair('ec-p256');
  const ca = await createCertificate({ subject: 'CN=Test CA', isCA: true, key: caKey, notBefore: NOW, notAfter: new Date(NOW.getTime() + 365 * MS_PER_DAY) });
  const key = await generateKeyPair('ec-p256');
  const leaf = await createCertificate({
    subject: `CN=${name}`,
    dnsNames: [name],
    key,
    issuer: { certificatePem: ca.certificatePem, key: caKey },
    notBefore: NOW,
    notAfter: new Date(NOW.getTime() + 90 * MS_PER_DAY),
  });
  return { certificatePem: leaf.certificatePem, chainPem: ca.certificatePem, privateKeyPem: key.privateKeyPem };
}

function aTarget(overrides: Partial<FilesTarget> = {}): FilesTarget {
  return {
    type: 'files',
    certFile: path.join(dir, 'site.crt'),
    chainFile: path.join(dir, 'chain.pem'),
    keyFile: path.join(dir, 'site.key'),
    ...overrides,
  };
}

/** A REAL reload command: node appends the cert file's current bytes to a marker, proving it ran after the write. */
function reloadCommand(marker: string, certFile: string): string[] {
  const script = "const fs=require('fs');fs.appendFileSync(process.argv[1], fs.readFileSync(process.argv[2]))";
  return [process.execPath, '-e', script, marker, certFile];
}

function failingCommand(code: number, stderr: string): string[] {
  return [process.execPath, '-e', `process.stderr.write(${JSON.stringify(stderr)});process.exit(${code})`];
}

async function startReloadServer(status: number, certFile: string) {
  const seen: Array<{ method?: string; certAtReload: string }> = [];
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', async () => {
      seen.push({ method: req.method, certAtReload: await fs.readFile(certFile, 'utf8').catch(() => '') });
      res.writeHead(status).end(status >= 400 ? 'reload refused: bad certificate' : '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/reload?token=s3cret`;
  return { url, seen, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

const mode = async (file: string) => (await fs.stat(file)).mode & 0o777;
const read = (file: string) => fs.readFile(file, 'utf8');
const exists = (file: string) => fs.stat(file).then(() => true, () => false);
const deployer = (options: ConstructorParameters<typeof FilesDeployer>[0] = {}) => new FilesDeployer({ clock: fixedClock(NOW), ...options });

describe('FilesDeployer', () => {
  it('When nothing was deployed before, then cert, chain and key are written, the key 0600, and the receipt has no backups', async () => {
    const material = await someMaterial();
    const target = aTarget();

    const receipt = await deployer().deploy(target, material);

    expect(await read(target.certFile)).toBe(material.certificatePem);
    expect(await read(target.chainFile!)).toBe(material.chainPem);
    expect(await read(target.keyFile)).toBe(material.privateKeyPem);
    expect(await mode(target.keyFile)).toBe(0o600);
    expect(receipt.backup).toEqual({ [target.certFile]: null, [target.chainFile!]: null, [target.keyFile]: null, [RECEIPT_MATERIAL_KEY]: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(receipt.deployedAt).toBe(NOW.toISOString());
    // Beside the files only the manifest of the (empty) backups: no temporary file is left behind.
    expect((await fs.readdir(dir)).sort()).toEqual(['.site.crt.certops-deploy.json', 'chain.pem', 'site.crt', 'site.key']);
  });

  it('When the target has no chainFile, then the chain is appended to the certificate file', async () => {
    const material = await someMaterial();
    const target = aTarget({ chainFile: undefined });

    await deployer().deploy(target, material);

    expect(await read(target.certFile)).toBe(material.certificatePem + material.chainPem);
  });

  it('When the umask is permissive, then the key file and its temporary file are still created 0600 from the first byte', async () => {
    const opens: Array<{ file: string; flags: unknown; mode: unknown }> = [];
    const realOpen = fs.open.bind(fs);
    jest.spyOn(fs, 'open').mockImplementation(((file: string, flags: string, m?: number) => {
      opens.push({ file: String(file), flags, mode: m });
      return realOpen(file, flags, m);
    }) as typeof fs.open);
    const previousUmask = process.umask(0);
    try {
      const target = aTarget();
      await fs.writeFile(target.keyFile, 'old key', { mode: 0o600 });
      await deployer().deploy(target, await someMaterial());

      const keyOpens = opens.filter((o) => path.basename(o.file).includes('site.key'));
      expect(keyOpens.length).toBeGreaterThanOrEqual(2); // backup and new key
      for (const o of keyOpens) expect(o).toMatchObject({ flags: 'wx', mode: 0o600 });
      expect(await mode(target.keyFile)).toBe(0o600);
      expect(await mode(`${target.keyFile}.certops-prev`)).toBe(0o600);
    } finally {
      process.umask(previousUmask);
    }
  });

  it('When files exist, then they are copied to .certops-prev backups and replaced by rename (new inode, no temp files left)', async () => {
    const target = aTarget();
    const before = await someMaterial('old.contoso.test');
    await deployer().deploy(target, before);
    const oldInode = (await fs.stat(target.certFile)).ino;

    const receipt = await deployer().deploy(target, await someMaterial('new.contoso.test'));

    expect(receipt.backup).toEqual({
      [target.certFile]: `${target.certFile}.certops-prev`,
      [target.chainFile!]: `${target.chainFile}.certops-prev`,
      [target.keyFile]: `${target.keyFile}.certops-prev`,
      [RECEIPT_MATERIAL_KEY]: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    expect(await read(`${target.certFile}.certops-prev`)).toBe(before.certificatePem);
    expect(await read(`${target.keyFile}.certops-prev`)).toBe(before.privateKeyPem);
    expect((await fs.stat(target.certFile)).ino).not.toBe(oldInode);
    expect((await fs.readdir(dir)).filter((f) => f.includes('certops-tmp'))).toEqual([]);
  });

  it('When a reader polls the certificate during repeated deploys, then it only ever sees a whole old or whole new file', async () => {
    const target = aTarget({ chainFile: undefined });
    const [a, b] = [await someMaterial('a.test'), await someMaterial('b.test')];
    const whole = new Set([a.certificatePem + a.chainPem, b.certificatePem + b.chainPem]);
    const d = deployer();
    await d.deploy(target, a);
    let done = false;
    const torn: string[] = [];
    const reader = (async () => {
      while (!done) {
        const seen = await read(target.certFile);
        if (!whole.has(seen)) torn.push(seen);
      }
    })();

    for (let i = 0; i < 30; i++) await d.deploy(target, i % 2 ? a : b);
    done = true;
    await reader;

    expect(torn).toEqual([]);
  });

  it('When the reload command is a real process, then it runs after the files are written', async () => {
    const target = aTarget();
    const marker = path.join(dir, 'reloaded');
    target.reload = { command: reloadCommand(marker, target.certFile) };
    const material = await someMaterial();

    await deployer().deploy(target, material);

    expect(await read(marker)).toBe(material.certificatePem);
  });

  it('When the reload command exits non-zero, then a DeploymentError carries the stderr tail and the receipt, and the new files stay', async () => {
    const target = aTarget({ reload: { command: failingCommand(3, 'nginx: [emerg] cannot load certificate key') } });
    const material = await someMaterial();

    const error = await deployer().deploy(target, material).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(DeploymentError);
    expect((error as Error).message).toMatch(/exited with code 3: nginx: \[emerg\] cannot load certificate key/);
    expect((error as DeploymentError).receipt?.backup[target.certFile]).toBeNull();
    expect(await read(target.certFile)).toBe(material.certificatePem);
  });

  it('When the reload command hangs past the timeout, then it is killed and a DeploymentError says so', async () => {
    const target = aTarget({ reload: { command: [process.execPath, '-e', 'setTimeout(() => {}, 10000)'] } });
    const started = Date.now();

    await expect(deployer({ reloadTimeoutMs: 300 }).deploy(target, await someMaterial())).rejects.toThrow(/timed out after 300 ms/);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('When the reload hook is a real HTTP server answering 204, then it is POSTed after the files are written', async () => {
    const target = aTarget();
    const server = await startReloadServer(204, target.certFile);
    try {
      target.reload = { url: server.url };
      const material = await someMaterial();
      await deployer().deploy(target, material);

      expect(server.seen).toEqual([{ method: 'POST', certAtReload: material.certificatePem }]);
    } finally {
      await server.close();
    }
  });

  it('When the reload hook answers 500, then a DeploymentError names the status but not the URL token', async () => {
    const target = aTarget();
    const server = await startReloadServer(500, target.certFile);
    try {
      target.reload = { url: server.url };
      const error = (await deployer().deploy(target, await someMaterial()).catch((e: unknown) => e)) as Error;

      expect(error).toBeInstanceOf(DeploymentError);
      expect(error.message).toMatch(/answered 500: reload refused: bad certificate/);
      expect(error.message).not.toContain('s3cret');
    } finally {
      await server.close();
    }
  });

  it('When a deploy is restored, then the previous bytes are back, the reload runs again, and restoring twice changes nothing', async () => {
    const target = aTarget();
    const marker = path.join(dir, 'reloaded');
    const before = await someMaterial('old.test');
    const after = await someMaterial('new.test');
    await deployer().deploy(target, before);
    target.reload = { command: reloadCommand(marker, target.certFile) };
    const receipt = await deployer().deploy(target, after);

    await deployer().restore(receipt);
    await deployer().restore(receipt);

    expect(await read(target.certFile)).toBe(before.certificatePem);
    expect(await read(target.chainFile!)).toBe(before.chainPem);
    expect(await read(target.keyFile)).toBe(before.privateKeyPem);
    expect(await mode(target.keyFile)).toBe(0o600);
    expect(await mode(`${target.keyFile}.certops-prev`)).toBe(0o600); // restoring copies the backup, leaving it private
    expect(await read(marker)).toBe(after.certificatePem + before.certificatePem + before.certificatePem);
  });

  it('When a deploy had nothing before it, then restore removes the files it wrote', async () => {
    const target = aTarget();
    const receipt = await deployer().deploy(target, await someMaterial());

    await deployer().restore(receipt);

    expect(await Promise.all([target.certFile, target.chainFile!, target.keyFile].map(exists))).toEqual([false, false, false]);
  });

  it('When writing the key fails after the certificate was written, then the certificate is put back and no reload runs', async () => {
    const marker = path.join(dir, 'reloaded');
    const target = aTarget({ keyFile: path.join(dir, 'missing-dir', 'site.key') });
    const before = await someMaterial('old.test');
    await fs.writeFile(target.certFile, before.certificatePem);
    target.reload = { command: reloadCommand(marker, target.certFile) };

    await expect(deployer().deploy(target, await someMaterial('new.test'))).rejects.toThrow(/previous files were put back/);

    expect(await read(target.certFile)).toBe(before.certificatePem);
    expect(await exists(target.chainFile!)).toBe(false);
    expect(await exists(marker)).toBe(false);
  });

  it('When certFile and keyFile are the same path, then nothing is written and a DeploymentError says why', async () => {
    const target = aTarget({ keyFile: path.join(dir, 'site.crt') });

    await expect(deployer().deploy(target, await someMaterial())).rejects.toThrow(/must be different files/);
    expect(await fs.readdir(dir)).toEqual([]);
  });

  it('When deploying and restoring with a logger, then the private key never reaches the log', async () => {
    const lines: string[] = [];
    const logger: DeployLogger = { info: (o, m) => lines.push(JSON.stringify(o) + m), warn: (o, m) => lines.push(JSON.stringify(o) + m) };
    const target = aTarget({ reload: { command: [process.execPath, '-e', ''] } });
    const material = await someMaterial();
    await fs.writeFile(target.keyFile, (await someMaterial()).privateKeyPem);

    const receipt = await deployer({ logger }).deploy(target, material);
    await deployer({ logger }).restore(receipt);

    expect(lines.length).toBeGreaterThanOrEqual(3);
    expect(lines.join('\n')).not.toMatch(/PRIVATE KEY|MIG[A-Za-z0-9+/]{20}/);
  });
});

describe('Defect 4: reload commands and DNS hooks inherit the whole environment', () => {
  let restoreEnvironment: () => void;
  beforeEach(() => {
    restoreEnvironment = putSecretsInParentEnvironment({ NGINX_CONF: 'conf of the reload', OTHER_SETTING: 'not named' });
  });
  afterEach(() => restoreEnvironment());

  it('When the reload command runs after a deploy and after a restore, then it gets PATH, LANG, HOME and the variables reload.env names, never CERTOPS_MASTER_KEY or AZURE_CLIENT_SECRET', async () => {
    const dumps = [path.join(dir, 'env-deploy.json'), path.join(dir, 'env-restore.json')];
    const target = aTarget({ reload: { command: dumpEnvironmentCommand(dumps[0]), env: ['NGINX_CONF', 'NOT_SET_ANYWHERE'] } });
    const receipt = await deployer().deploy(target, await someMaterial());
    await deployer().restore({ ...receipt, target: { ...target, reload: { ...target.reload, command: dumpEnvironmentCommand(dumps[1]) } } });

    for (const dump of dumps) {
      const env = readDumpedEnvironment(dump);
      expect(Object.keys(env).sort()).toEqual(['HOME', 'LANG', 'NGINX_CONF', 'PATH']);
      expect(env.NGINX_CONF).toBe('conf of the reload');
    }
  });

  it.each([
    { case: 'CERTOPS_MASTER_KEY', names: ['CERTOPS_MASTER_KEY'] },
    { case: 'AZURE_CLIENT_SECRET beside a harmless name', names: ['NGINX_CONF', 'AZURE_CLIENT_SECRET'] },
  ])('When reload.env names $case, then the deploy is refused with PermanentError naming it before any file is written', async ({ names }) => {
    const marker = path.join(dir, 'reloaded');
    const target = aTarget({ reload: { command: reloadCommand(marker, path.join(dir, 'site.crt')), env: names } });

    const error = await deployer().deploy(target, await someMaterial()).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(PermanentError);
    expect((error as Error).message).toMatch(new RegExp(`${names[names.length - 1]} is a secret of certops and never reaches the reload command of .*site\\.crt`));
    expect(await fs.readdir(dir)).toEqual([]);
  });
});
