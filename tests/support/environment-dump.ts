/**
 * For the tests of what reaches a child process: secrets of certops put into this process's
 * environment (and taken out again), and a real command that writes the environment it received
 * to a file as JSON.
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';

/** What certops' own environment holds where it runs: secrets, and a setting no child needs. */
export const PARENT_SECRETS: Readonly<Record<string, string>> = {
  CERTOPS_MASTER_KEY: 'bWFzdGVyLWtleS1vZi1jZXJ0b3BzLW5ldmVyLXNoYXJlZCE=',
  AZURE_CLIENT_SECRET: 'azure-client-secret-never-shared',
  IDENTITY_HEADER: 'managed-identity-header-never-shared',
};
export const PARENT_SETTING = { CERTOPS_UNRELATED_SETTING: 'not for children' };

/**
 * Sets PARENT_SECRETS, PARENT_SETTING, `extra`, and LANG and HOME when absent, in process.env;
 * returns the function that puts every touched variable back as it was.
 */
export function putSecretsInParentEnvironment(extra: Record<string, string> = {}): () => void {
  const values: Record<string, string> = { LANG: process.env.LANG ?? 'C.UTF-8', HOME: process.env.HOME ?? homedir(), ...PARENT_SECRETS, ...PARENT_SETTING, ...extra };
  const saved = Object.fromEntries(Object.keys(values).map((name) => [name, process.env[name]]));
  Object.assign(process.env, values);
  return () => {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  };
}

/** argv of a real process that writes its whole environment to `file` as JSON. */
export function dumpEnvironmentCommand(file: string): string[] {
  return [process.execPath, '-e', "require('node:fs').writeFileSync(process.argv[1], JSON.stringify(process.env))", file];
}

export function readDumpedEnvironment(file: string): Record<string, string> {
  return JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>;
}
