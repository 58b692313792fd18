/**
 * Child processes of the benchmark: TypeScript scripts forked with the tsx loader and an IPC
 * channel. Every child exits when that channel closes, so `stop()` (or the parent's death) ends it.
 */
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { askChild } from '../../tests/support/child-ipc';
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
      return askChild<R>(child, script, message, replyKind, timeoutMs);
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
