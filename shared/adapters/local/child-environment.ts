/**
 * The environment of a child process certops starts (a reload command, a DNS hook, the lab's
 * Pebble): never certops' own environment, which holds its secrets (the master key of the key
 * store, an Azure client secret, the managed identity's token header).
 *
 * Observes: the parent's environment and the names the configuration lets through.
 * Decides: the child gets PATH, LANG and HOME (to find programs, speak the locale, find its
 * dotfiles), each named variable the parent has (one by one, no prefixes or patterns: a pattern
 * lets through whatever a later setting happens to be called), and the values certops itself sets
 * for it (a DNS hook's CERTOPS_DNS_*). A name that is a secret of certops is refused even when the
 * configuration names it: a PermanentError says which and where, because no hook needs certops'
 * master key, and a configuration that asks for it is a mistake or an attack.
 */
import { PermanentError } from '../../domain/errors';
import { CERTOPS_SECRET_VARIABLES } from '../../domain/secret-variables';

/** What every child gets from the parent when the parent has it. */
export const BASE_VARIABLES: readonly string[] = ['PATH', 'LANG', 'HOME'];

export { CERTOPS_SECRET_VARIABLES };

export interface ChildEnvironmentOptions {
  /** Values certops sets for the child itself (e.g. CERTOPS_DNS_FQDN); they win over the parent's. */
  set?: Record<string, string>;
  /**
   * More names that hold secrets where certops runs (a webhook's `secretEnv`, an ACME EAB
   * `hmacKeyEnv`): refused like certops' own.
   */
  secretNames?: readonly string[];
  /** The child, for the refusal message: e.g. `the reload command of /etc/ssl/www.crt`. */
  child?: string;
}

/** Throws PermanentError when `names` holds a secret of certops (checked when configuring, before any child runs). */
export function refuseSecretNames(names: readonly string[], options: Pick<ChildEnvironmentOptions, 'secretNames' | 'child'> = {}): void {
  const secret = new Set([...CERTOPS_SECRET_VARIABLES, ...(options.secretNames ?? [])]);
  const refused = names.filter((name) => secret.has(name));
  if (refused.length === 0) return;
  throw new PermanentError(
    `${refused.join(', ')} ${refused.length === 1 ? 'is a secret' : 'are secrets'} of certops and never ${refused.length === 1 ? 'reaches' : 'reach'} ` +
      `${options.child ?? 'a child process'}; remove ${refused.length === 1 ? 'it' : 'them'} from the names of variables the child may receive ` +
      '(give the child a credential of its own instead)',
  );
}

/** The environment a child gets: PATH, LANG, HOME, the named variables the parent has, then `options.set`. */
export function childEnvironment(parent: NodeJS.ProcessEnv, names: readonly string[] = [], options: ChildEnvironmentOptions = {}): Record<string, string> {
  refuseSecretNames([...names, ...Object.keys(options.set ?? {})], options);
  const env: Record<string, string> = {};
  for (const name of [...BASE_VARIABLES, ...names]) {
    const value = parent[name];
    if (value !== undefined) env[name] = value;
  }
  return { ...env, ...options.set };
}
