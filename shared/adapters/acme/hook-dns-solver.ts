/**
 * HookDnsSolver: a DnsSolver that runs operator-configured commands, for DNS providers certops
 * has no adapter for (the lego `exec` provider and certbot `--manual-auth-hook` pattern).
 *
 * Observes: the record AcmeIssuer asks to present or clean up.
 * Decides: nothing; it runs `present` or `cleanup` (an argv, never through a shell, so no value is
 * ever interpreted as shell syntax) with the record in the environment:
 *   CERTOPS_DNS_FQDN   the record name, e.g. `_acme-challenge.www.example.com` (no trailing dot)
 *   CERTOPS_DNS_VALUE  the TXT value (public by design: it is published in DNS)
 *   CERTOPS_DNS_ACTION `present` or `cleanup`
 * Besides those the hook gets PATH, LANG, HOME and the variables `env` names (its provider's API
 * token, say), nothing else of certops' environment: a hook is the operator's code, and certops'
 * master key or Azure secret must never reach it. Naming such a secret in `env` is refused when
 * the solver is configured (local/child-environment.ts).
 * Exit 0 means done. A non-zero exit or a timeout is a RetryableError carrying the tail of the
 * command's stderr; a command that cannot be started (not found, not executable) is a
 * PermanentError, because retrying cannot fix the configuration. The hook must be idempotent,
 * as the DnsSolver contract is (cleanup may run for a record that was never presented).
 */
import { spawn } from 'node:child_process';
import { PermanentError, RetryableError, errorMessage } from '../../domain/errors';
import { childEnvironment, refuseSecretNames } from '../local/child-environment';
import type { DnsChallengeRecord, DnsSolver } from '../../ports/dns-solver';

/** A provider API call plus the hook's own start-up fits easily; a hung hook must not hold the order. */
export const DEFAULT_HOOK_TIMEOUT_MS = 60_000;
/** Enough stderr to show the provider's error message, not a whole log. */
const STDERR_TAIL_CHARS = 1_000;

export interface HookDnsSolverOptions {
  /** argv run to publish the record, e.g. `['/opt/dns/hook', 'present']`. */
  present: string[];
  /** argv run to remove the record. */
  cleanup: string[];
  /** Kills the command after this long; default DEFAULT_HOOK_TIMEOUT_MS. */
  timeoutMs?: number;
  /**
   * Names of variables of certops' environment the command receives (e.g. the DNS provider's API
   * token), besides PATH, LANG, HOME and CERTOPS_DNS_*. A secret of certops is refused.
   */
  env?: readonly string[];
  /** More names that hold secrets where certops runs (a webhook's secretEnv): refused like certops' own. */
  secretNames?: readonly string[];
}

/** Who gets the environment, in a refusal. */
const CHILD = 'the DNS hook';

export class HookDnsSolver implements DnsSolver {
  constructor(private readonly options: HookDnsSolverOptions) {
    for (const action of ['present', 'cleanup'] as const) {
      if (options[action].length === 0 || options[action][0] === '') {
        throw new PermanentError(`HookDnsSolver: the ${action} command is empty; configure it as an argv list`);
      }
    }
    refuseSecretNames(options.env ?? [], { secretNames: options.secretNames, child: CHILD });
  }

  async present(record: DnsChallengeRecord, options: { abortSignal?: AbortSignal } = {}): Promise<void> {
    await this.run('present', record, options.abortSignal);
  }

  async cleanup(record: DnsChallengeRecord, options: { abortSignal?: AbortSignal } = {}): Promise<void> {
    await this.run('cleanup', record, options.abortSignal);
  }

  private run(action: 'present' | 'cleanup', record: DnsChallengeRecord, abortSignal?: AbortSignal): Promise<void> {
    abortSignal?.throwIfAborted();
    const [command, ...args] = this.options[action];
    const timeoutMs = this.options.timeoutMs ?? DEFAULT_HOOK_TIMEOUT_MS;
    const fqdn = record.fqdn.replace(/\.+$/, '');
    return new Promise<void>((resolve, reject) => {
      const child = spawn(command, args, {
        env: childEnvironment(process.env, this.options.env, {
          set: { CERTOPS_DNS_ACTION: action, CERTOPS_DNS_FQDN: fqdn, CERTOPS_DNS_VALUE: record.value },
          secretNames: this.options.secretNames,
          child: CHILD,
        }),
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.setEncoding('utf8');
      child.stderr.on('data', (chunk: string) => {
        stderr = (stderr + chunk).slice(-STDERR_TAIL_CHARS);
      });
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, timeoutMs);
      const onAbort = () => child.kill('SIGKILL');
      abortSignal?.addEventListener('abort', onAbort, { once: true });
      const done = () => {
        clearTimeout(timer);
        abortSignal?.removeEventListener('abort', onAbort);
      };
      child.once('error', (err: NodeJS.ErrnoException) => {
        done();
        reject(new PermanentError(`DNS ${action} hook '${command}' could not be started: ${errorMessage(err)}; fix the hook command in the solver configuration`, { cause: err }));
      });
      child.once('close', (code, signal) => {
        done();
        if (abortSignal?.aborted) return reject(abortSignal.reason);
        if (code === 0) return resolve();
        const how = timedOut ? `did not finish within ${timeoutMs} ms` : code === null ? `was killed by ${signal}` : `exited with ${code}`;
        const tail = stderr.trim();
        reject(new RetryableError(`DNS ${action} hook '${command}' for ${fqdn} ${how}${tail ? `: ${tail}` : ' (no stderr)'}; it will be retried`));
      });
    });
  }
}
