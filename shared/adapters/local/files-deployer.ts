/**
 * FilesDeployer: deploys a certificate as PEM files on this machine (nginx, HAProxy, Apache,
 * anything that reads files), then makes the server load them.
 *
 * Writes are atomic: each file is written to a temporary file in the same directory, flushed,
 * then renamed over the target (rename(2) is atomic within one file system), so a server that
 * reads mid-deploy sees either the old or the new bytes, never half a file.
 *
 * The layout the operator made is kept (servers read keys as `0640 root:ssl-cert`, certbot links
 * `live/` into `archive/`):
 * - A file that exists keeps its owner, group and mode: the temporary file gets them before its
 *   first byte, so a key is never more open than it was. When certops may not give the file its
 *   owner back (not root), the write fails before the rename and nothing changes.
 * - A symlinked path is written through: the temporary file is made in the directory of the
 *   link's final target and renamed over that target; the link stays the same link.
 * - New files: keys 0600 from the first byte, certificates and chains 0644, owned by certops.
 * - Refused, with nothing written (DeploymentError saying why): a dangling link (certops would
 *   create a file wherever the link points, a classic way to make root write somewhere it should
 *   not), a link that cannot be followed (a loop), a path that is not a regular file (a directory,
 *   a device), a file with more than one hard link (a rename gives the path a new inode; the other
 *   names would keep serving the old key), and paths that end at one file.
 *
 * Before writing, the current files are copied to `<file>.certops-prev` (beside the configured
 * path, with the owner, group and mode of the file copied); the receipt maps each target path to
 * its backup (null when there was no file). One backup generation is kept: a second deploy to the
 * same target overwrites the first backup. A manifest beside the certificate file
 * (`.<certFile>.certops-deploy.json`) says which material those backups were made for, so that
 * deploying the same material again keeps them (see DeployManifest); the receipt names that
 * material too (RECEIPT_MATERIAL_KEY).
 *
 * Retire (the rollback window ended) deletes the backups, the previous private key first, and
 * marks the manifest retired, so that neither a restore nor a resumed deployment reaches for them.
 *
 * Reload: `reload.command` (argv, no shell) or `reload.url` (POST). The command gets PATH, LANG,
 * HOME and the variables `reload.env` names, nothing else of certops' environment
 * (child-environment.ts). A failed reload throws DeploymentError carrying the receipt
 * (`error.receipt`), so the caller can restore.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs, type Stats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import * as path from 'node:path';
import type { Clock } from '../../domain/clock';
import { systemClock } from '../../domain/clock';
import { errorMessage, PermanentError } from '../../domain/errors';
import type { DeploymentTarget, FilesTarget, ReloadHook } from '../../config/model';
import { DeploymentError, type CertificateMaterial, type Deployer, type DeploymentReceipt } from '../../ports/deployer';
import { childEnvironment } from './child-environment';

/** A reload that takes longer than this is treated as hung (nginx -s reload takes well under a second). */
export const DEFAULT_RELOAD_TIMEOUT_MS = 30_000;
export const BACKUP_SUFFIX = '.certops-prev';
export const MANIFEST_SUFFIX = '.certops-deploy.json';
/** The receipt's entry naming the material its backups were made for (every other entry is a target path). */
export const RECEIPT_MATERIAL_KEY = 'certops:material';
const KEY_MODE = 0o600;
const PUBLIC_MODE = 0o644;
/** Enough of stderr to show the reason (nginx prints one line) without flooding the error. */
const STDERR_TAIL_CHARS = 500;

export interface DeployLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface FilesDeployerOptions {
  reloadTimeoutMs?: number;
  logger?: DeployLogger;
  /** Stamps receipts; defaults to the system clock. */
  clock?: Clock;
  /** More variable names that hold secrets where certops runs (a webhook's secretEnv): `reload.env` may not name them either. */
  secretNames?: readonly string[];
}

interface PlannedFile {
  path: string;
  content: string;
  secret: boolean;
}

/** Who a file belongs to and who may read it. */
interface Ownership {
  mode: number;
  uid: number;
  gid: number;
}

/** Where the bytes for a configured path go (the path itself, or the final target of its link), and what the file there is. */
interface Placement {
  path: string;
  real: string;
  /** Null when no file exists yet. */
  existing: Ownership | null;
}

export class FilesDeployer implements Deployer {
  readonly handles = ['files'] as const;
  private readonly reloadTimeoutMs: number;
  private readonly clock: Clock;

  constructor(private readonly options: FilesDeployerOptions = {}) {
    this.reloadTimeoutMs = options.reloadTimeoutMs ?? DEFAULT_RELOAD_TIMEOUT_MS;
    this.clock = options.clock ?? systemClock;
  }

  /**
   * Backs up, writes atomically, reloads. If a write fails, files already written are put back
   * and DeploymentError is thrown (no reload). If the reload fails, the new files stay and
   * DeploymentError with `receipt` set is thrown: the caller decides to restore.
   */
  async deploy(deploymentTarget: DeploymentTarget, material: CertificateMaterial): Promise<DeploymentReceipt> {
    const target = filesTarget(deploymentTarget);
    const env = this.reloadEnvironment(target); // a secret named in reload.env is refused before anything is written
    const files = plan(target, material);
    const placements = await placementsOf(files.map((f) => f.path));
    const id = materialId(material);
    const previous = await readManifest(target);
    let backup: Record<string, string | null>;
    if (previous?.material === id && !previous.retired && files.every((f) => f.path in previous.backup)) {
      backup = previous.backup; // the same material again: the first attempt's backups are what came before
    } else {
      backup = {};
      for (const file of files) backup[file.path] = await backUp(placements.get(file.path)!);
      await writeManifest(target, { material: id, backup });
    }
    const receipt: DeploymentReceipt = { target, backup: { ...backup, [RECEIPT_MATERIAL_KEY]: id }, deployedAt: this.clock.now().toISOString() };

    const written: string[] = [];
    try {
      for (const file of files) {
        const placement = placements.get(file.path)!;
        await writeAtomically(placement.real, file.content, placement.existing ?? { mode: file.secret ? KEY_MODE : PUBLIC_MODE });
        written.push(file.path);
      }
    } catch (err) {
      await this.rollBack(receipt, written);
      throw new DeploymentError(`writing ${files.map((f) => f.path).join(', ')} failed: ${errorMessage(err)}; the previous files were put back`, { cause: err });
    }
    this.options.logger?.info({ files: files.map((f) => f.path), backup }, 'certificate files written');

    try {
      await this.reload(target.reload, env);
    } catch (err) {
      throw new DeploymentError(`${errorMessage(err)}; the new files are in place, restore the receipt to go back`, { cause: err, receipt });
    }
    return receipt;
  }

  /**
   * Puts the backed-up bytes back (or removes files that did not exist), then reloads. Idempotent:
   * backups are copied, not moved. Refused (PermanentError) once the receipt was retired, or when a
   * later deployment of other material made the backups beside the files: they are not this receipt's.
   */
  async restore(receipt: DeploymentReceipt): Promise<void> {
    const target = filesTarget(receipt.target);
    const env = this.reloadEnvironment(target);
    await refuseEndedWindow(target, receipt);
    for (const file of filesOf(receipt)) {
      await restoreOne(file, receipt.backup[file]);
    }
    this.options.logger?.info({ files: filesOf(receipt) }, 'previous certificate files restored');
    await this.reload(target.reload, env);
  }

  /**
   * Deletes the backups the receipt names, the previous private key first, and marks the manifest
   * retired so a resumed deployment of the same material makes fresh backups instead of pointing
   * at deleted ones. Idempotent. Backups a later deployment (other material) made are left alone:
   * they are that deployment's rollback, and this receipt's were overwritten by them already.
   */
  async retire(receipt: DeploymentReceipt): Promise<void> {
    const target = filesTarget(receipt.target);
    const manifest = await readManifest(target);
    const material = receipt.backup[RECEIPT_MATERIAL_KEY] ?? null;
    if (material && manifest && manifest.material !== material) {
      this.options.logger?.info({ certFile: target.certFile }, 'backups belong to a later deployment; nothing of this receipt is left to retire');
      return;
    }
    const files = filesOf(receipt).sort((x, y) => Number(y === target.keyFile) - Number(x === target.keyFile));
    for (const file of files) {
      const backupPath = receipt.backup[file];
      if (backupPath) await fs.rm(backupPath, { force: true });
    }
    const backup = Object.fromEntries(files.map((f) => [f, receipt.backup[f]]));
    await writeManifest(target, { material: manifest?.material ?? material ?? '', backup: manifest?.backup ?? backup, retired: true });
    this.options.logger?.info({ files }, 'rollback window ended: backups of the previous files deleted');
  }

  /** Computed before anything is written, so that a secret named in `reload.env` refuses the whole deployment. */
  private reloadEnvironment(target: FilesTarget): Record<string, string> {
    return childEnvironment(process.env, target.reload?.env ?? [], { secretNames: this.options.secretNames, child: `the reload command of ${target.certFile}` });
  }

  private async rollBack(receipt: DeploymentReceipt, written: string[]): Promise<void> {
    for (const file of written) {
      try {
        await restoreOne(file, receipt.backup[file]);
      } catch (err) {
        this.options.logger?.warn({ file, err: errorMessage(err) }, 'rolling back a partly written deployment failed');
      }
    }
  }

  private async reload(hook: ReloadHook | undefined, env: Record<string, string>): Promise<void> {
    if (hook?.command && hook.command.length > 0) await runCommand(hook.command, env, this.reloadTimeoutMs);
    if (hook?.url) await postHook(hook.url, this.reloadTimeoutMs);
    if (hook?.command || hook?.url) this.options.logger?.info({ command: hook.command?.[0], url: hook.url && redactUrl(hook.url) }, 'reload hook succeeded');
  }
}

function filesTarget(target: DeploymentTarget): FilesTarget {
  if (target.type !== 'files') throw new PermanentError(`FilesDeployer cannot deploy to a target of type ${target.type}`);
  return target;
}

/** The target paths a receipt holds backups for: every entry but the material's. */
function filesOf(receipt: DeploymentReceipt): string[] {
  return Object.keys(receipt.backup).filter((key) => key !== RECEIPT_MATERIAL_KEY);
}

function plan(target: FilesTarget, material: CertificateMaterial): PlannedFile[] {
  const files: PlannedFile[] = [
    { path: target.certFile, content: target.chainFile ? pem(material.certificatePem) : pem(material.certificatePem) + pem(material.chainPem), secret: false },
  ];
  if (target.chainFile) files.push({ path: target.chainFile, content: pem(material.chainPem), secret: false });
  files.push({ path: target.keyFile, content: pem(material.privateKeyPem), secret: true });
  const resolved = files.map((f) => path.resolve(f.path));
  if (new Set(resolved).size !== resolved.length) {
    throw new DeploymentError(`the target's certFile, chainFile and keyFile must be different files (${resolved.join(', ')}); fix the target configuration`);
  }
  return files;
}

/** Ends every PEM block sequence with exactly one newline so concatenations stay valid. */
function pem(text: string): string {
  return text.trim() === '' ? '' : `${text.replace(/\s+$/, '')}\n`;
}

/** Where each path's bytes go, all checked before anything is written (the refusals of the header). */
async function placementsOf(paths: string[]): Promise<Map<string, Placement>> {
  const placements = new Map<string, Placement>();
  for (const file of paths) placements.set(file, await placementOf(file));
  const real = [...placements.values()].map((p) => p.real);
  if (new Set(real).size !== real.length) {
    throw new DeploymentError(`the target's certFile, chainFile and keyFile must be different files, but their links end at ${real.join(', ')}; fix the target configuration or the links`);
  }
  return placements;
}

async function placementOf(file: string): Promise<Placement> {
  let st: Stats;
  try {
    st = await fs.lstat(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { path: file, real: file, existing: null };
    throw err;
  }
  let real = file;
  if (st.isSymbolicLink()) {
    try {
      real = await fs.realpath(file);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') {
        throw new DeploymentError(
          `${file} is a symbolic link to ${await fs.readlink(file)}, which does not exist: certops does not create the file a link points at; ` +
            'create that file (its owner, group and mode will be kept) or replace the link by a file',
        );
      }
      throw new DeploymentError(`${file} is a symbolic link that cannot be followed (${code ?? errorMessage(err)}); fix the link`, { cause: err });
    }
    st = await fs.stat(real);
  }
  if (!st.isFile()) throw new DeploymentError(`${file} is not a regular file${real === file ? '' : ` (its link ends at ${real})`}; point the target at a file`);
  if (st.nlink > 1) {
    throw new DeploymentError(
      `${real} has ${st.nlink} hard links: replacing it by rename would leave its other names holding the old bytes; make the other names symbolic links to ${file}`,
    );
  }
  return { path: file, real, existing: ownershipOf(st) };
}

function ownershipOf(st: Stats): Ownership {
  return { mode: st.mode & 0o777, uid: st.uid, gid: st.gid };
}

/** Copies the current file (through its link) beside the configured path, owned alike; null when there is none. */
async function backUp(placement: Placement): Promise<string | null> {
  if (!placement.existing) return null;
  const backupPath = placement.path + BACKUP_SUFFIX;
  await writeAtomically(backupPath, await fs.readFile(placement.real), placement.existing);
  return backupPath;
}

/**
 * Which material the backups beside a target were made for: deploying that same material again
 * (a rotation resumed after a crash between writing and recording) reuses them, so the receipt
 * still points at what came before the first attempt, even for files the new material leaves
 * unchanged or that did not exist. The certificate and chain identify the material; the manifest
 * holds no key material.
 */
interface DeployManifest {
  material: string;
  backup: Record<string, string | null>;
  /** The backups were deleted when the rollback window ended: nothing may point at them again. */
  retired?: boolean;
}

function manifestPath(target: FilesTarget): string {
  return path.join(path.dirname(target.certFile), `.${path.basename(target.certFile)}${MANIFEST_SUFFIX}`);
}

function materialId(material: CertificateMaterial): string {
  return createHash('sha256').update(material.certificatePem).update('\0').update(material.chainPem).digest('hex');
}

async function readManifest(target: FilesTarget): Promise<DeployManifest | null> {
  try {
    return JSON.parse(await fs.readFile(manifestPath(target), 'utf8')) as DeployManifest;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || err instanceof SyntaxError) return null;
    throw err;
  }
}

async function writeManifest(target: FilesTarget, manifest: DeployManifest): Promise<void> {
  await writeAtomically(manifestPath(target), JSON.stringify(manifest), { mode: PUBLIC_MODE });
}

/** Restore is over once the receipt was retired, or once a later deployment of other material made the backups. */
async function refuseEndedWindow(target: FilesTarget, receipt: DeploymentReceipt): Promise<void> {
  const manifest = await readManifest(target);
  if (!manifest) return;
  const material = receipt.backup[RECEIPT_MATERIAL_KEY];
  const ours = !material || manifest.material === material; // receipts from before the material was recorded: trust the manifest
  if (ours && !manifest.retired) return;
  throw new PermanentError(
    `the rollback window of the deployment to ${target.certFile} at ${receipt.deployedAt} has ended ` +
      `(${ours ? 'its backups were retired' : 'a later deployment replaced its backups'}): nothing is left to restore; deploy the material the server should serve instead`,
  );
}

/** Writes the backup's bytes back through the path's link, with the owner, group and mode the backup kept. */
async function restoreOne(file: string, backupPath: string | null | undefined): Promise<void> {
  if (!backupPath) {
    await fs.rm(file, { force: true });
    return;
  }
  const saved = await fs.lstat(backupPath).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? null : Promise.reject(err)));
  if (!saved?.isFile()) throw new DeploymentError(`cannot restore ${file}: its backup ${backupPath} is ${saved ? 'not a regular file' : 'gone'}; put the previous file back by hand`);
  const placement = await placementOf(file);
  await writeAtomically(placement.real, await fs.readFile(backupPath), ownershipOf(saved));
}

/**
 * Temporary file in the same directory (rename is atomic only within a file system), created 0600,
 * given its owner, group and mode before its first byte (so it is never more open than the file
 * it replaces, nor a key ever readable by others), flushed, renamed.
 */
async function writeAtomically(file: string, content: string | Buffer, owner: Pick<Ownership, 'mode'> & Partial<Ownership>): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.certops-tmp-${randomBytes(6).toString('hex')}`);
  const handle = await fs.open(tmp, 'wx', KEY_MODE);
  try {
    if (owner.uid !== undefined && owner.gid !== undefined) {
      const made = await handle.stat();
      if (made.uid !== owner.uid || made.gid !== owner.gid) await giveOwner(handle, file, owner.uid, owner.gid);
    }
    await handle.chmod(owner.mode); // after chown, which clears set-id bits; and the umask may have removed bits
    await handle.writeFile(content);
    await handle.sync();
  } catch (err) {
    await handle.close();
    await fs.rm(tmp, { force: true });
    throw err;
  }
  await handle.close();
  try {
    await fs.rename(tmp, file);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
}

async function giveOwner(handle: FileHandle, file: string, uid: number, gid: number): Promise<void> {
  try {
    await handle.chown(uid, gid);
  } catch (err) {
    throw new DeploymentError(
      `cannot keep the owner ${uid}:${gid} of ${file} (${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}, certops runs as uid ${process.getuid?.()}); ` +
        `run certops as a user that may give files their owner back, or give ${file} to certops' user`,
      { cause: err },
    );
  }
}

function runCommand(argv: string[], env: Record<string, string>, timeoutMs: number): Promise<void> {
  const [command, ...args] = argv;
  return new Promise((resolve, reject) => {
    execFile(command, args, { env, timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 1024 * 1024 }, (err, _stdout, stderr) => {
      if (!err) return resolve();
      const tail = String(stderr).trim().slice(-STDERR_TAIL_CHARS);
      const e = err as Error & { code?: number | string; killed?: boolean; signal?: string };
      const why = e.killed ? `timed out after ${timeoutMs} ms` : typeof e.code === 'number' ? `exited with code ${e.code}` : e.message;
      reject(new DeploymentError(`reload command ${command} ${why}${tail ? `: ${tail}` : ''}`, { cause: err }));
    });
  });
}

async function postHook(url: string, timeoutMs: number): Promise<void> {
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ event: 'certops.certificate.deployed' }),
      signal: AbortSignal.timeout(timeoutMs),
      redirect: 'manual',
    });
  } catch (err) {
    throw new DeploymentError(`reload hook ${redactUrl(url)} unreachable: ${errorMessage(err)}`, { cause: err });
  }
  const body = (await response.text().catch(() => '')).trim().slice(-STDERR_TAIL_CHARS);
  if (response.status < 200 || response.status > 299) {
    throw new DeploymentError(`reload hook ${redactUrl(url)} answered ${response.status}${body ? `: ${body}` : ''}`);
  }
}

/** Reload URLs may carry a token in their path or query: only the origin is ever logged. */
function redactUrl(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return '(invalid URL)';
  }
}
