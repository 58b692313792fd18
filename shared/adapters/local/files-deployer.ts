/**
 * FilesDeployer: deploys a certificate as PEM files on this machine (nginx, HAProxy, Apache,
 * anything that reads files), then makes the server load them.
 *
 * Writes are atomic: each file is written to a temporary file in the same directory, flushed,
 * then renamed over the target (rename(2) is atomic within one file system), so a server that
 * reads mid-deploy sees either the old or the new bytes, never half a file. Key files (and their
 * backups) are created with mode 0600 from the first byte: never world-readable, not even briefly.
 *
 * Before writing, the current files are copied to `<file>.certops-prev`; the receipt maps each
 * target path to its backup (null when there was no file). One backup generation is kept: a
 * second deploy to the same target overwrites the first backup. A manifest beside the certificate
 * file (`.<certFile>.certops-deploy.json`) says which material those backups were made for, so
 * that deploying the same material again keeps them (see DeployManifest).
 *
 * Reload: `reload.command` (argv, no shell) or `reload.url` (POST). A failed reload throws
 * DeploymentError carrying the receipt (`error.receipt`), so the caller can restore.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { Clock } from '../../domain/clock';
import { systemClock } from '../../domain/clock';
import { errorMessage, PermanentError } from '../../domain/errors';
import type { DeploymentTarget, FilesTarget, ReloadHook } from '../../config/model';
import { DeploymentError, type CertificateMaterial, type Deployer, type DeploymentReceipt } from '../../ports/deployer';

/** A reload that takes longer than this is treated as hung (nginx -s reload takes well under a second). */
export const DEFAULT_RELOAD_TIMEOUT_MS = 30_000;
export const BACKUP_SUFFIX = '.certops-prev';
export const MANIFEST_SUFFIX = '.certops-deploy.json';
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
}

interface PlannedFile {
  path: string;
  content: string;
  secret: boolean;
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
    const files = plan(target, material);
    const id = materialId(material);
    const previous = await readManifest(target);
    let backup: Record<string, string | null>;
    if (previous?.material === id && files.every((f) => f.path in previous.backup)) {
      backup = previous.backup; // the same material again: the first attempt's backups are what came before
    } else {
      backup = {};
      for (const file of files) backup[file.path] = await backUp(file);
      await writeAtomically(manifestPath(target), JSON.stringify({ material: id, backup } satisfies DeployManifest), PUBLIC_MODE);
    }
    const receipt: DeploymentReceipt = { target, backup, deployedAt: this.clock.now().toISOString() };

    const written: string[] = [];
    try {
      for (const file of files) {
        await writeAtomically(file.path, file.content, await modeFor(file));
        written.push(file.path);
      }
    } catch (err) {
      await this.rollBack(receipt, written);
      throw new DeploymentError(`writing ${files.map((f) => f.path).join(', ')} failed: ${errorMessage(err)}; the previous files were put back`, { cause: err });
    }
    this.options.logger?.info({ files: files.map((f) => f.path), backup }, 'certificate files written');

    try {
      await this.reload(target.reload);
    } catch (err) {
      throw new DeploymentError(`${errorMessage(err)}; the new files are in place, restore the receipt to go back`, { cause: err, receipt });
    }
    return receipt;
  }

  /** Puts the backed-up bytes back (or removes files that did not exist), then reloads. Idempotent: backups are copied, not moved. */
  async restore(receipt: DeploymentReceipt): Promise<void> {
    const target = filesTarget(receipt.target);
    const keyFile = target.keyFile;
    for (const [target, backupPath] of Object.entries(receipt.backup)) {
      await restoreOne(target, backupPath, target === keyFile);
    }
    this.options.logger?.info({ files: Object.keys(receipt.backup) }, 'previous certificate files restored');
    await this.reload(target.reload);
  }

  private async rollBack(receipt: DeploymentReceipt, written: string[]): Promise<void> {
    for (const file of written) {
      try {
        await restoreOne(file, receipt.backup[file] ?? null, file === filesTarget(receipt.target).keyFile);
      } catch (err) {
        this.options.logger?.warn({ file, err: errorMessage(err) }, 'rolling back a partly written deployment failed');
      }
    }
  }

  private async reload(hook: ReloadHook | undefined): Promise<void> {
    if (hook?.command && hook.command.length > 0) await runCommand(hook.command, this.reloadTimeoutMs);
    if (hook?.url) await postHook(hook.url, this.reloadTimeoutMs);
    if (hook?.command || hook?.url) this.options.logger?.info({ command: hook.command?.[0], url: hook.url && redactUrl(hook.url) }, 'reload hook succeeded');
  }
}

function filesTarget(target: DeploymentTarget): FilesTarget {
  if (target.type !== 'files') throw new PermanentError(`FilesDeployer cannot deploy to a target of type ${target.type}`);
  return target;
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

async function modeFor(file: PlannedFile): Promise<number> {
  if (file.secret) return KEY_MODE;
  // Keep an operator's chosen mode for public files (e.g. 0640 for a group-readable bundle).
  return (await statOrNull(file.path))?.mode ?? PUBLIC_MODE;
}

/** Copies the current file aside (null when there is none). */
async function backUp(file: PlannedFile): Promise<string | null> {
  const current = await statOrNull(file.path);
  if (!current) return null;
  const backupPath = file.path + BACKUP_SUFFIX;
  await writeAtomically(backupPath, await fs.readFile(file.path), file.secret ? KEY_MODE : current.mode);
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

async function restoreOne(target: string, backupPath: string | null, secret: boolean): Promise<void> {
  if (backupPath === null) {
    await fs.rm(target, { force: true });
    return;
  }
  const saved = await statOrNull(backupPath);
  if (!saved) throw new DeploymentError(`cannot restore ${target}: its backup ${backupPath} is gone; put the previous file back by hand`);
  await writeAtomically(target, await fs.readFile(backupPath), secret ? KEY_MODE : saved.mode);
}

async function statOrNull(file: string): Promise<{ mode: number } | null> {
  try {
    const st = await fs.stat(file);
    return { mode: st.mode & 0o777 };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** Temporary file in the same directory (rename is atomic only within a file system), created with `mode`, flushed, renamed. */
async function writeAtomically(file: string, content: string | Buffer, mode: number): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.certops-tmp-${randomBytes(6).toString('hex')}`);
  const handle = await fs.open(tmp, 'wx', mode);
  try {
    await handle.chmod(mode); // the umask may have removed bits from a public file's mode
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

function runCommand(argv: string[], timeoutMs: number): Promise<void> {
  const [command, ...args] = argv;
  return new Promise((resolve, reject) => {
    execFile(command, args, { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 1024 * 1024 }, (err, _stdout, stderr) => {
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
