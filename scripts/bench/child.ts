/**
 * Child processes of the benchmark: TypeScript scripts forked with the tsx loader and an IPC
 * channel. Every child exits when that channel closes, so `stop()` (or the parent's death) ends it.
 */
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { REPO_ROOT } from './certs';

export interface Child {
  process: ChildProcess;
  /** Sends `message` and resolves with the first reply of kind `replyKind` (rejects on 'error' or exit). */
  ask<R extends { kind: string }>(message: object, replyKind: R['kind'], timeoutMs?: number): Promise<R>;
  /** Closes the IPC channel and waits (up to 5 s, then SIGKILL) for the child to exit. */
  stop(): Promise<void>;
}

/**
 * Set CERTOPS_BENCH_CPU_PROF to a directory to CPU-profile every child (`--cpu-prof`): the
 * `.cpuprofile` files open in Chrome DevTools and show where a sweep spends its time.
 */
export function startChild(script: string): Child {
  const profileDir = process.env.CERTOPS_BENCH_CPU_PROF;
  const child = fork(path.join(__dirname, script), [], {
    cwd: REPO_ROOT,
    execArgv: ['--import', 'tsx', ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [])],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let exited = child.exitCode !== null;
  const exit = new Promise<void>((resolve) => child.once('exit', () => ((exited = true), resolve())));
  return {
    process: child,
    ask<R extends { kind: string }>(message: object, replyKind: R['kind'], timeoutMs = 600_000): Promise<R> {
      return new Promise<R>((resolve, reject) => {
        const timer = setTimeout(() => done(new Error(`${script}: no '${replyKind}' reply within ${timeoutMs} ms`)), timeoutMs);
        const onMessage = (reply: { kind: string; message?: string }): void => {
          if (reply.kind === replyKind) done(null, reply as R);
          else if (reply.kind === 'error') done(new Error(`${script}: ${reply.message}`));
        };
        const onExit = (code: number | null): void => done(new Error(`${script} exited (code ${code}) before replying '${replyKind}'`));
        function done(err: Error | null, value?: R): void {
          clearTimeout(timer);
          child.off('message', onMessage);
          child.off('exit', onExit);
          if (err) reject(err);
          else resolve(value!);
        }
        child.on('message', onMessage);
        child.once('exit', onExit);
        child.send(message);
      });
    },
    async stop(): Promise<void> {
      if (exited) return;
      if (child.connected) child.disconnect();
      const killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exit;
      clearTimeout(killer);
    },
  };
}
