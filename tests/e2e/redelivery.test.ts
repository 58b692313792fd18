/**
 * At-least-once delivery without doing things twice or not at all: a stage that fails
 * transiently is redelivered and then does its work exactly once; a channel that fails is retried
 * without the other channels hearing twice; a rotation that keeps failing escalates once; an
 * issuer that refuses escalates instead of vanishing into the dead letters.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createEmbeddedRuntime, type EmbeddedRuntime } from '../../shared/composition-root';
import type { ManagedCertificateConfig } from '../../shared/config/model';
import { aTestConfig } from '../support/config-builders';
import { fixedClock } from '../../shared/domain/clock';
import { PermanentError, RetryableError } from '../../shared/domain/errors';
import { TlsFleet } from '../../shared/demo/tls-fleet';
import { createLogger } from '../../shared/observability/logger';
import { StaticResolver } from '../../shared/adapters/tls/system-resolver';
import type { Issuer } from '../../shared/ports/issuer';
import type { Notification } from '../../shared/ports/notifier';
import { aCA, aCertificate, TEST_NOW } from '../support/x509-builders';

jest.setTimeout(60_000);

const SECRET_ENV = 'CERTOPS_REDELIVERY_SECRET';

interface World {
  dir: string;
  fleet: TlsFleet;
  runtime: EmbeddedRuntime;
  hook: { url: string; attempts: number; accepted: Notification[]; close(): Promise<void> };
  outbox(): Notification[];
  close(): Promise<void>;
}

/** A webhook receiver that answers 503 to its first `failures` requests. */
async function flakyReceiver(failures: number): Promise<World['hook']> {
  const hook: World['hook'] = { url: '', attempts: 0, accepted: [], close: async () => undefined };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      hook.attempts++;
      if (hook.attempts <= failures) return void res.writeHead(503).end();
      hook.accepted.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Notification);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  hook.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  hook.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return hook;
}

/** One tenant, one managed endpoint whose certificate has 2 days left; `reload` decides its fate. */
async function aWorld(options: { webhookFailures?: number; reloadToDecoy?: boolean } = {}): Promise<World> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'certops-redelivery-'));
  const ca = await aCA();
  writeFileSync(path.join(dir, 'ca.pem'), ca.pem);
  const files = (name: string) => ({ certFile: path.join(dir, name, 'cert.pem'), keyFile: path.join(dir, name, 'key.pem') });
  for (const name of ['web', 'decoy']) {
    const leaf = await aCertificate({ daysLeft: 2, dnsNames: ['web.acme.test'], issuer: ca });
    mkdirSync(path.join(dir, name));
    writeFileSync(files(name).certFile, leaf.pem + ca.pem);
    writeFileSync(files(name).keyFile, leaf.key.privateKeyPem, { mode: 0o600 });
  }
  const fleet = await TlsFleet.start(['web', 'decoy'].map((name) => ({ name, ...files(name) })));
  const hook = await flakyReceiver(options.webhookFailures ?? 0);
  const managed: ManagedCertificateConfig = {
    id: 'web',
    dnsNames: ['web.acme.test'],
    issuer: 'local-ca',
    target: { type: 'files', ...files('web'), reload: { url: fleet.reloadUrl(options.reloadToDecoy ? 'decoy' : 'web') } },
  };
  const config = aTestConfig(dir, {
    notifications: { console: false, outboxFile: path.join(dir, 'outbox.jsonl'), webhook: { url: hook.url, secretEnv: SECRET_ENV } },
    tenants: [
      {
        id: 'acme',
        assignee: { name: 'Dana' },
        escalation: { name: 'On-call' },
        trustedCaFiles: [path.join(dir, 'ca.pem')],
        endpoints: [{ host: 'web.acme.test', port: fleet.endpoint('web').port, managed: 'web' }],
        managedCertificates: [managed],
      },
    ],
  });
  const runtime = createEmbeddedRuntime(config, {
    logger: createLogger({ level: 'silent' }),
    clock: fixedClock(TEST_NOW),
    env: { [SECRET_ENV]: 'secret' },
    consoleStream: null,
    resolver: new StaticResolver({ 'web.acme.test': ['127.0.0.1'] }),
    rotation: { verifyTimeoutMs: 500, verifyInitialDelayMs: 50, verifyMaxDelayMs: 200 },
    bus: { retryBaseDelayMs: 10 },
  });
  runtime.pipeline.start();
  return {
    dir,
    fleet,
    runtime,
    hook,
    outbox: () => {
      try {
        return readFileSync(path.join(dir, 'outbox.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Notification);
      } catch {
        return [];
      }
    },
    close: async () => {
      await runtime.close();
      await fleet.close();
      await hook.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The runtime's issuer, behind a wrapper that throws `errors` in turn before it lets calls through. */
function issuerFailing(world: World, ...errors: Error[]): { calls: number } {
  const real = world.runtime.deps.issuers.get('local-ca')!;
  const seen = { calls: 0 };
  const wrapped: Issuer = {
    name: real.name,
    trustAnchorsPem: (t) => real.trustAnchorsPem(t),
    issue: async (request, options) => {
      seen.calls++;
      const error = errors.shift();
      if (error) throw error;
      return real.issue(request, options);
    },
  };
  (world.runtime.deps as { issuers: ReadonlyMap<string, Issuer> }).issuers = new Map([[real.name, wrapped]]);
  return seen;
}

const kinds = (ns: Notification[]) => ns.map((n) => n.kind);

describe('When the issuer fails once with a transient error', () => {
  it('then the redelivered approval rotates the certificate, once, and the human is told once', async () => {
    const world = await aWorld();
    try {
      const issuer = issuerFailing(world, new RetryableError('CA busy; try again'));
      await world.runtime.pipeline.sweep({ reason: 'test' });
      expect(issuer.calls).toBe(2);
      expect((await world.runtime.deps.store.getManagedState('acme', 'web'))?.lastRotation?.outcome).toBe('committed');
      expect(kinds(world.outbox())).toEqual(['rotation-completed']);
      expect(await world.runtime.bus.deadLetters()).toEqual([]);
    } finally {
      await world.close();
    }
  });
});

describe('When the issuer refuses for good', () => {
  it('then the rotation fails with the reason and the escalation contact is told, rather than the message vanishing', async () => {
    const world = await aWorld();
    try {
      issuerFailing(world, new PermanentError('the CA refuses names under .test'));
      await world.runtime.pipeline.sweep({ reason: 'test' });
      const [failure] = world.outbox();
      expect(failure).toMatchObject({ kind: 'rotation-failed', to: { name: 'On-call' } });
      expect(failure.text).toMatch(/^issuance failed: the CA refuses names under \.test\. The previous certificate is still what is served \(verified\)\.$/);
      expect(await world.runtime.bus.deadLetters()).toEqual([]);
    } finally {
      await world.close();
    }
  });
});

describe('When the webhook fails twice and then accepts', () => {
  it('then the webhook gets each notification once it recovers, and the outbox has no duplicates', async () => {
    const world = await aWorld({ webhookFailures: 2 });
    try {
      await world.runtime.pipeline.sweep({ reason: 'test' });
      const outbox = world.outbox();
      expect(kinds(outbox)).toEqual(['rotation-completed']);
      expect(world.hook.attempts).toBe(3);
      expect(world.hook.accepted.map((n) => n.id)).toEqual(outbox.map((n) => n.id));
    } finally {
      await world.close();
    }
  });
});

describe('When a rotation keeps failing sweep after sweep', () => {
  it('then certops keeps trying, but escalates once for that state', async () => {
    const world = await aWorld({ reloadToDecoy: true });
    try {
      await world.runtime.pipeline.sweep({ reason: 'first' });
      await world.runtime.pipeline.sweep({ reason: 'second' });
      const attempts = (await world.runtime.deps.audit.list('acme')).filter((r) => r.kind === 'rotation.failed');
      expect(attempts).toHaveLength(2);
      expect(kinds(world.outbox())).toEqual(['rotation-failed']);
    } finally {
      await world.close();
    }
  });
});

describe('When the issued key does not match its certificate (a broken deploy)', () => {
  it('then the reload refuses it, the previous files come back, the old certificate is verified serving, and the escalation contact is told', async () => {
    const world = await aWorld();
    try {
      const real = world.runtime.deps.issuers.get('local-ca')!;
      const mismatched: Issuer = {
        name: real.name,
        trustAnchorsPem: (t) => real.trustAnchorsPem(t),
        issue: async (request, options) => {
          // b is signed without the rotation's idempotency key, so it is a different certificate and key.
          const [a, b] = [await real.issue(request, options), await real.issue(request)];
          return { ...a, privateKeyPem: b.privateKeyPem }; // a's certificate with b's key
        },
      };
      (world.runtime.deps as { issuers: ReadonlyMap<string, Issuer> }).issuers = new Map([[real.name, mismatched]]);
      await world.runtime.pipeline.sweep({ reason: 'test' });
      const [failure] = world.outbox();
      expect(failure).toMatchObject({ kind: 'rotation-failed', to: { name: 'On-call' } });
      expect(failure.text).toMatch(/^deployment failed: .*The previous certificate is still what is served \(verified\)\.$/s);
      expect((await world.runtime.deps.store.getManagedState('acme', 'web'))?.lastRotation?.outcome).toBe('rolled-back');
      const kinds = (await world.runtime.deps.audit.list('acme')).map((r) => r.kind);
      expect(kinds).toEqual(expect.arrayContaining(['certificate.issued', 'certificate.restored', 'rotation.failed']));
      expect(kinds).not.toContain('rotation.committed');
    } finally {
      await world.close();
    }
  });
});

