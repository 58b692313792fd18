/**
 * HookDnsSolver with a real hook process (node -e, posting to pebble-challtestsrv's management
 * API) driving a DNS-01 issuance against a real ACME CA (Pebble); and the hook's failure modes.
 */
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PermanentError, RetryableError } from '../../shared/domain/errors';
import { AcmeIssuer } from '../../shared/adapters/acme/acme-issuer';
import { HookDnsSolver, type HookDnsSolverOptions } from '../../shared/adapters/acme/hook-dns-solver';
import type { DnsChallengeRecord, DnsSolver } from '../../shared/ports/dns-solver';
import { startPebble, type PebbleHandle } from '../../shared/demo/pebble-lab';
import { aDns01Issuer, aRequestFor } from '../support/acme-builders';
import { dumpEnvironmentCommand, putSecretsInParentEnvironment, readDumpedEnvironment } from '../support/environment-dump';

jest.setTimeout(30_000);

/**
 * The hook an operator would write, in node so the test needs nothing else: it reads the record
 * from CERTOPS_DNS_* and calls challtestsrv (the "DNS provider") at CHALLTESTSRV_URL.
 * It also appends "action fqdn" to HOOK_LOG, so the test sees what ran with which environment.
 * CHALLTESTSRV_URL and HOOK_LOG are set in this process's environment (with certops' secrets
 * beside them) and named in the solver's `env`: the hook gets those two, never the rest.
 */
const HOOK_SCRIPT = `
const { appendFileSync } = require('node:fs');
const action = process.argv[1];
const host = process.env.CERTOPS_DNS_FQDN + '.';
const body = action === 'set-txt' ? { host, value: process.env.CERTOPS_DNS_VALUE } : { host };
appendFileSync(process.env.HOOK_LOG, process.env.CERTOPS_DNS_ACTION + ' ' + process.env.CERTOPS_DNS_FQDN + '\\n');
fetch(process.env.CHALLTESTSRV_URL + '/' + action, { method: 'POST', body: JSON.stringify(body) })
  .then((r) => { if (!r.ok) { console.error('provider answered ' + r.status); process.exit(2); } })
  .catch((e) => { console.error(String(e)); process.exit(1); });
`;

let pebble: PebbleHandle;
let dir: string;
let hookLog: string;
let hookLogs = 0;
let restoreEnvironment: () => void;

beforeAll(async () => {
  pebble = await startPebble();
  dir = mkdtempSync(join(tmpdir(), 'certops-hook-'));
});
afterAll(async () => {
  await pebble?.stop();
  rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => {
  hookLog = join(dir, `hook-${++hookLogs}.log`);
  writeFileSync(hookLog, '');
  restoreEnvironment = putSecretsInParentEnvironment({ CHALLTESTSRV_URL: pebble.dns.managementUrl, HOOK_LOG: hookLog });
});
afterEach(() => restoreEnvironment());

function aHookSolver(overrides: Partial<HookDnsSolverOptions> = {}): HookDnsSolver {
  return new HookDnsSolver({
    present: [process.execPath, '-e', HOOK_SCRIPT, 'set-txt'],
    cleanup: [process.execPath, '-e', HOOK_SCRIPT, 'clear-txt'],
    env: ['CHALLTESTSRV_URL', 'HOOK_LOG'],
    timeoutMs: 10_000,
    ...overrides,
  });
}

function anIssuer(dns: DnsSolver): AcmeIssuer {
  return aDns01Issuer(pebble, dns);
}

const aRequest = aRequestFor;

function hookRuns(): string[] {
  return readFileSync(hookLog, 'utf8').split('\n').filter(Boolean);
}

const aRecord = (overrides: Partial<DnsChallengeRecord> = {}): DnsChallengeRecord => ({ fqdn: '_acme-challenge.www.hook.test', value: 'v', ...overrides });

describe('HookDnsSolver', () => {
  it('When a certificate is ordered with DNS-01 through a hook command, then Pebble validates the TXT the hook published and the hook cleans it up', async () => {
    const started = performance.now();
    const issued = await anIssuer(aHookSolver()).issue(aRequest(['www.hook.test']));
    const elapsedMs = performance.now() - started;

    const leaf = new X509Certificate(issued.certificatePem);
    expect(leaf.subjectAltName).toBe('DNS:www.hook.test');
    const chain = issued.chainPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)!.map((p) => new X509Certificate(p));
    expect(leaf.verify(chain[0].publicKey)).toBe(true);
    expect(chain[chain.length - 1].verify(new X509Certificate(await pebble.rootPem()).publicKey)).toBe(true);
    expect(hookRuns()).toEqual(['present _acme-challenge.www.hook.test', 'cleanup _acme-challenge.www.hook.test']);
    expect(elapsedMs).toBeLessThan(10_000);
  });

  it('When the hook publishes nothing, then the CA refuses the order: the hook really is what proves the domain', async () => {
    const noop = [process.execPath, '-e', 'require("node:fs").appendFileSync(process.env.HOOK_LOG, process.env.CERTOPS_DNS_ACTION + "\\n")'];
    const error = await anIssuer(aHookSolver({ present: noop, cleanup: noop })).issue(aRequest(['nohook.hook.test'])).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(PermanentError);
    expect(hookRuns()).toEqual(['present', 'cleanup']);
  });

  it.each([
    {
      case: 'the hook exits non-zero', present: [process.execPath, '-e', 'console.error("zone locked by another change"); process.exit(3)'], timeoutMs: 10_000,
      says: /DNS present hook '.*' for _acme-challenge\.www\.hook\.test exited with 3: zone locked by another change; it will be retried/,
    },
    {
      case: 'the hook hangs past its timeout', present: [process.execPath, '-e', 'setTimeout(() => {}, 60000)'], timeoutMs: 300,
      says: /did not finish within 300 ms \(no stderr\)/,
    },
  ])('When $case, then present fails as retryable with the reason', async ({ present, timeoutMs, says }) => {
    const error = await aHookSolver({ present, timeoutMs }).present(aRecord()).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(RetryableError);
    expect((error as Error).message).toMatch(says);
  });

  it('When the hook command does not exist, then present fails permanently naming it', async () => {
    const error = await aHookSolver({ present: ['/nonexistent/certops-dns-hook'] }).present(aRecord()).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(PermanentError);
    expect((error as Error).message).toMatch(/hook '\/nonexistent\/certops-dns-hook' could not be started: .*ENOENT/);
  });

  it('When a value holds shell syntax, then it reaches the hook verbatim, never through a shell', async () => {
    const echo = [process.execPath, '-e', 'require("node:fs").appendFileSync(process.env.HOOK_LOG, process.env.CERTOPS_DNS_VALUE + "|" + process.env.CERTOPS_DNS_FQDN + "\\n")'];
    await aHookSolver({ present: echo }).present(aRecord({ fqdn: '_acme-challenge.www.hook.test.', value: '$(touch /tmp/pwned);`id`' }));

    expect(hookRuns()).toEqual(['$(touch /tmp/pwned);`id`|_acme-challenge.www.hook.test']);
  });

  it('When the issuance is aborted, then the running hook is killed and present rejects with the signal reason', async () => {
    const controller = new AbortController();
    const pending = aHookSolver({ present: [process.execPath, '-e', 'setTimeout(() => {}, 60000)'] }).present(aRecord(), { abortSignal: controller.signal });
    setTimeout(() => controller.abort(new Error('shutting down')), 100);

    await expect(pending).rejects.toThrow('shutting down');
  });

  it('When a command is empty, then the solver refuses the configuration', () => {
    expect(() => new HookDnsSolver({ present: [], cleanup: ['x'] })).toThrow(/present command is empty/);
  });
});

describe('Defect 4: reload commands and DNS hooks inherit the whole environment', () => {
  it('When a DNS hook runs, then it gets PATH, LANG, HOME, the variables named for it and its CERTOPS_DNS_* values, never CERTOPS_MASTER_KEY or AZURE_CLIENT_SECRET', async () => {
    const dump = join(dir, `env-${hookLogs}.json`);

    await aHookSolver({ present: dumpEnvironmentCommand(dump) }).present(aRecord({ value: 'token-value' }));

    const env = readDumpedEnvironment(dump);
    expect(Object.keys(env).sort()).toEqual(['CERTOPS_DNS_ACTION', 'CERTOPS_DNS_FQDN', 'CERTOPS_DNS_VALUE', 'CHALLTESTSRV_URL', 'HOME', 'HOOK_LOG', 'LANG', 'PATH']);
    expect(env).toMatchObject({ CERTOPS_DNS_ACTION: 'present', CERTOPS_DNS_FQDN: '_acme-challenge.www.hook.test', CERTOPS_DNS_VALUE: 'token-value', HOOK_LOG: hookLog });
  });

  it.each([
    { case: 'the master key of certops', names: ['CERTOPS_MASTER_KEY'], refused: 'CERTOPS_MASTER_KEY' },
    { case: 'the Azure client secret beside a harmless name', names: ['HOOK_LOG', 'AZURE_CLIENT_SECRET'], refused: 'AZURE_CLIENT_SECRET' },
  ])('When the hook is configured to receive $case, then the solver refuses the configuration with PermanentError naming it', ({ names, refused }) => {
    const configuring = () => aHookSolver({ env: names });

    expect(configuring).toThrow(PermanentError);
    expect(configuring).toThrow(`${refused} is a secret of certops and never reaches the DNS hook`);
  });
});
