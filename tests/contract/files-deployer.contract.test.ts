/**
 * The Deployer contract against FilesDeployer on temporary files (no reload hook), in both
 * layouts: the chain appended to the certificate file, and the chain in a file of its own. What
 * the target holds is read from the files themselves, byte for byte, with the key file's mode.
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FilesDeployer } from '../../shared/adapters/local/files-deployer';
import type { FilesTarget } from '../../shared/config/model';
import { fixedClock } from '../../shared/domain/clock';
import { deployerContract, heldFromPem, type HeldMaterial } from './deployer.contract';

const readOrNull = (file: string): Promise<Buffer | null> => fs.readFile(file).catch((err) => (err.code === 'ENOENT' ? null : Promise.reject(err)));

/** Nothing when none of the target's files exists; otherwise every file must be there. */
async function inspectFiles(target: FilesTarget): Promise<HeldMaterial | null> {
  const paths = [target.certFile, target.keyFile, ...(target.chainFile ? [target.chainFile] : [])];
  const bytes = await Promise.all(paths.map(readOrNull));
  if (bytes.every((b) => b === null)) return null;
  const missing = paths.filter((_, i) => bytes[i] === null);
  if (missing.length > 0) throw new Error(`the target holds only part of a deployment: ${missing.join(', ')} missing`);
  const [cert, key, chain] = bytes as Buffer[];
  const keyMode = (await fs.stat(target.keyFile)).mode & 0o777;
  return heldFromPem(`${cert}\n${chain ?? ''}`, key.toString(), { files: bytes.map((b) => b!.toString('base64')), keyMode });
}

describe.each([
  { layout: 'cert and key (chain appended to the cert)', chain: false },
  { layout: 'cert, chain and key', chain: true },
])('FilesDeployer with $layout', ({ chain }) => {
  deployerContract('FilesDeployer', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'certops-deployer-contract-'));
    const target: FilesTarget = {
      type: 'files',
      certFile: path.join(dir, 'site.crt'),
      keyFile: path.join(dir, 'site.key'),
      ...(chain ? { chainFile: path.join(dir, 'chain.pem') } : {}),
    };
    return {
      deployer: new FilesDeployer({ clock: fixedClock('2030-06-01T00:00:00Z') }),
      target,
      inspect: () => inspectFiles(target),
      close: () => fs.rm(dir, { recursive: true, force: true }),
    };
  });
});
