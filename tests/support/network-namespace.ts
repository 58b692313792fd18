/**
 * Runs a TypeScript script in a network namespace of its own: loopback only, so the kernel has no
 * route to any other address. A connect to 2001:db8::1 (or any non-loopback address) fails at once
 * with ENETUNREACH and no packet leaves the machine, whatever routes the test machine itself has.
 * That is how the tests stage "certops' host has no route for this address family" for real.
 *
 * The namespace is made by `unshare --net` (as root) or `unshare --net --map-root-user` (an
 * unprivileged user namespace otherwise), and its loopback is brought up with `ip link set lo up`.
 * It goes away with the process. When it cannot be made, the run rejects saying why: the tests
 * that need it fail rather than skip.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';

const REPO = path.resolve(__dirname, '../..');

export interface NamespaceRun {
  stdout: string;
  stderr: string;
}

export interface NamespaceOptions {
  timeoutMs: number;
  /**
   * Shell commands run in the namespace before the script, after loopback is up (e.g. `ip route …`
   * over a veth pair whose both ends stay in the namespace: nothing it sends leaves the machine).
   */
  setup?: string[];
}

/** Runs `node --import tsx <script> ...args` in a fresh network namespace; resolves when it exits 0. */
export function runWithoutRoutes(script: string, args: string[], options: NamespaceOptions): Promise<NamespaceRun> {
  const unshare = process.getuid?.() === 0 ? ['--net'] : ['--net', '--map-root-user'];
  // `sh -c 'ip link set lo up && … && exec "$@"' sh node …`: the script runs with loopback up, nothing else.
  const prepare = ['ip link set lo up', ...(options.setup ?? [])].join(' && ');
  const command = ['unshare', ...unshare, '--', 'sh', '-c', `${prepare} && exec "$@"`, 'sh', process.execPath, '--import', 'tsx', script, ...args];
  return new Promise<NamespaceRun>((resolve, reject) => {
    const child = spawn(command[0], command.slice(1), { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot start a network namespace (${command.slice(0, 3).join(' ')}): ${err.message}; the test needs unshare(1) and ip(8)`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) return resolve({ stdout, stderr });
      reject(
        new Error(
          `${path.basename(script)} in a network namespace without routes failed (code ${code}, signal ${signal}); ` +
            `making the namespace needs root or unprivileged user namespaces, and ip(8):\n${stderr}`,
        ),
      );
    });
  });
}
