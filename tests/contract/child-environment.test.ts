/**
 * What reaches a child process certops starts (shared/adapters/local/child-environment.ts): PATH,
 * LANG, HOME and the variables named one by one, never a secret of certops. Run against real
 * processes: a command that dumps the environment it got, and the lab's Pebble and challtestsrv,
 * whose environment is read from /proc.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { childEnvironment, CERTOPS_SECRET_VARIABLES } from '../../shared/adapters/local/child-environment';
import { startPebble } from '../../shared/demo/pebble-lab';
import { PermanentError } from '../../shared/domain/errors';
import { dumpEnvironmentCommand, PARENT_SECRETS, PARENT_SETTING, putSecretsInParentEnvironment, readDumpedEnvironment } from '../support/environment-dump';

jest.setTimeout(30_000);

let dir: string;
let restoreEnvironment: () => void;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'certops-child-env-'));
  restoreEnvironment = putSecretsInParentEnvironment({ DNS_API_TOKEN: 'the hook’s own token' });
});
afterEach(() => {
  restoreEnvironment();
  rmSync(dir, { recursive: true, force: true });
});

/** The pids of every process below `pid`, from /proc (Linux). */
function descendantsOf(pid: number): number[] {
  const parentOf = new Map<number, number>();
  for (const entry of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      parentOf.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone meanwhile
    }
  }
  const found: number[] = [];
  const walk = (parent: number) => {
    for (const [child, ppid] of parentOf) {
      if (ppid === parent) {
        found.push(child);
        walk(child);
      }
    }
  };
  walk(pid);
  return found;
}

function environmentOf(pid: number): { command: string; env: Record<string, string> } {
  const command = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  const pairs = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter(Boolean);
  return { command, env: Object.fromEntries(pairs.map((p) => [p.slice(0, p.indexOf('=')), p.slice(p.indexOf('=') + 1)])) };
}

describe('Defect 4: reload commands and DNS hooks inherit the whole environment', () => {
  it('When a child is started with the environment made for it, then it gets PATH, LANG, HOME and the named variables only, never a secret', () => {
    const file = join(dir, 'env.json');
    const [command, ...args] = dumpEnvironmentCommand(file);

    execFileSync(command, args, { env: childEnvironment(process.env, ['DNS_API_TOKEN', 'NOT_SET_ANYWHERE'], { set: { CERTOPS_DNS_ACTION: 'present' } }) });

    const env = readDumpedEnvironment(file);
    expect(Object.keys(env).sort()).toEqual(['CERTOPS_DNS_ACTION', 'DNS_API_TOKEN', 'HOME', 'LANG', 'PATH']);
    expect(env).toMatchObject({ PATH: process.env.PATH, LANG: process.env.LANG, HOME: process.env.HOME, DNS_API_TOKEN: 'the hook’s own token', CERTOPS_DNS_ACTION: 'present' });
  });

  it.each([
    { case: 'the master key', names: ['CERTOPS_MASTER_KEY'], says: /CERTOPS_MASTER_KEY is a secret of certops and never reaches the reload command of site\.crt/ },
    { case: 'the Azure client secret among other names', names: ['DNS_API_TOKEN', 'AZURE_CLIENT_SECRET'], says: /AZURE_CLIENT_SECRET is a secret of certops/ },
    { case: 'the managed identity header', names: ['IDENTITY_HEADER'], says: /IDENTITY_HEADER is a secret/ },
    { case: 'a variable this deployment marks as secret (the webhook secret)', names: ['WEBHOOK_SECRET'], secretNames: ['WEBHOOK_SECRET'], says: /WEBHOOK_SECRET is a secret/ },
  ])('When the configuration names $case, then it is refused with PermanentError naming it', ({ names, secretNames, says }) => {
    const making = () => childEnvironment(process.env, names, { secretNames, child: 'the reload command of site.crt' });

    expect(making).toThrow(PermanentError);
    expect(making).toThrow(says);
  });

  it('When certops’ own values would set a secret’s name, then that is refused too', () => {
    expect(() => childEnvironment(process.env, [], { set: { CERTOPS_MASTER_KEY: 'x' } })).toThrow(PermanentError);
  });

  it('When the secrets certops knows are listed, then the ones of the issue are among them', () => {
    expect(CERTOPS_SECRET_VARIABLES).toEqual(expect.arrayContaining(['CERTOPS_MASTER_KEY', 'AZURE_CLIENT_SECRET']));
  });

  it('When the lab starts Pebble and challtestsrv, then their processes get no secret and nothing of certops’ settings, only their own PEBBLE_* values', async () => {
    const pebble = await startPebble({ env: { PEBBLE_WFE_NONCEREJECT: '0' } });
    try {
      const children = descendantsOf(process.pid).map(environmentOf);
      const pebbles = children.filter((c) => c.command === 'pebble');
      expect(pebbles).toHaveLength(1);
      expect(children.filter((c) => c.command.startsWith('pebble-challtes'))).toHaveLength(1);
      expect(pebbles[0].env).toMatchObject({ PATH: process.env.PATH, PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0' });
      const notForThem = [...Object.keys(PARENT_SECRETS), ...Object.keys(PARENT_SETTING), 'DNS_API_TOKEN'];
      for (const child of children) {
        // Names only in the failure message: a leaked value is not printed, even a test's.
        expect({ command: child.command, leaked: notForThem.filter((name) => name in child.env) }).toEqual({ command: child.command, leaked: [] });
      }
    } finally {
      await pebble.stop();
    }
  });
});
