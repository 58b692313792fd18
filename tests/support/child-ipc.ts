/**
 * Request and reply with a forked child over its IPC channel (the benchmark's children, the load
 * generator): send a message, resolve with the first reply of the kind asked for, reject on an
 * `error` reply, on the child's exit or after the timeout.
 */
import type { ChildProcess } from 'node:child_process';

export function askChild<R extends { kind: string }>(child: ChildProcess, label: string, message: object, replyKind: R['kind'], timeoutMs: number): Promise<R> {
  return new Promise<R>((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`${label}: no '${replyKind}' reply within ${timeoutMs} ms`)), timeoutMs);
    const onMessage = (reply: { kind: string; message?: string }): void => {
      if (reply.kind === replyKind) done(null, reply as R);
      else if (reply.kind === 'error') done(new Error(`${label}: ${reply.message}`));
    };
    const onExit = (code: number | null): void => done(new Error(`${label} exited (code ${code}) before replying '${replyKind}'`));
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
}
