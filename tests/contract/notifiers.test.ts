import { promises as fs } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConsoleNotifier } from '../../shared/adapters/local/console-notifier';
import { OutboxNotifier } from '../../shared/adapters/local/outbox-notifier';
import { WebhookNotifier, signWebhook, verifyWebhookSignature, withAuditHeads, type WebhookPayload } from '../../shared/adapters/local/webhook-notifier';
import { headSignerFrom } from '../../shared/adapters/local/ed25519-head-signer';
import { FileAuditHeadLog } from '../../shared/adapters/local/file-audit-head-log';
import { HEAD_LOG_GENESIS, signedHeadPayload, type SignedHead } from '../../shared/domain/signed-head';
import { fixedClock } from '../../shared/domain/clock';
import { PermanentError, RetryableError } from '../../shared/domain/errors';
import type { Notification } from '../../shared/ports/notifier';

const SECRET = 'whsec_test_0123456789';

function aNotification(overrides: Partial<Notification> = {}): Notification {
  return {
    id: 'n-2f1c',
    tenantId: 'contoso',
    kind: 'certificate-state-changed',
    severity: 'critical',
    title: 'Certificate for www.contoso.test expires in 3 days',
    text: 'Renewal failed twice; the approval is waiting for you.',
    to: { name: 'Alice Admin', email: 'alice@msp.test' },
    subject: { endpoint: 'www.contoso.test:443', certificateId: 'web', fingerprint: 'ab'.repeat(32) },
    facts: { daysLeft: 3, renewable: true, lastError: null },
    occurredAt: '2030-06-01T00:00:00.000Z',
    correlationId: 'corr-1',
    ...overrides,
  };
}

interface Received {
  headers: http.IncomingHttpHeaders;
  body: string;
  signatureValid: boolean;
}

/** A REAL receiver on loopback: verifies the signature as an MSP's endpoint would, then answers `status` (or 401 when invalid). */
async function startReceiver(status = 204, options: { hang?: boolean } = {}) {
  const received: Received[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (options.hang) return;
      const body = Buffer.concat(chunks).toString('utf8');
      const signatureValid = verifyWebhookSignature(
        SECRET,
        String(req.headers['x-certops-timestamp']),
        body,
        req.headers['x-certops-signature'] as string | undefined,
        new Date(),
      );
      received.push({ headers: req.headers, body, signatureValid });
      res.writeHead(signatureValid ? status : 401).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/certops`;
  return {
    url,
    received,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

describe('OutboxNotifier', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'certops-outbox-'));
  });
  afterEach(() => fs.rm(dir, { recursive: true, force: true }));

  it('When notifications are sent concurrently, then the file (in a new directory) holds one parseable JSON line each', async () => {
    const file = path.join(dir, 'nested', 'outbox.jsonl');
    const outbox = new OutboxNotifier({ file });
    const sent = Array.from({ length: 25 }, (_, i) => aNotification({ id: `n-${i}`, text: 'x'.repeat(2000) }));

    await Promise.all(sent.map((n) => outbox.send(n)));

    const lines = (await fs.readFile(file, 'utf8')).split('\n').filter(Boolean);
    const parsed = lines.map((l) => JSON.parse(l) as Notification);
    expect(parsed.map((n) => n.id).sort()).toEqual(sent.map((n) => n.id).sort());
    expect(parsed.find((n) => n.id === 'n-3')).toEqual(sent[3]);
  });

  it('When the outbox path is a directory, then PermanentError tells the operator to fix the path', async () => {
    await expect(new OutboxNotifier({ file: dir }).send(aNotification())).rejects.toBeInstanceOf(PermanentError);
  });
});

describe('WebhookNotifier', () => {
  it('When sent to a real receiver, then the JSON body, id header and signature verify there', async () => {
    const receiver = await startReceiver(204);
    try {
      const n = aNotification();
      await new WebhookNotifier({ url: receiver.url, secret: SECRET }).send(n);

      expect(receiver.received).toHaveLength(1);
      const [got] = receiver.received;
      expect(got.signatureValid).toBe(true);
      expect(got.headers['content-type']).toBe('application/json');
      expect(got.headers['x-certops-id']).toBe(n.id);
      expect(got.headers['x-certops-signature']).toMatch(/^sha256=[0-9a-f]{64}$/);
      expect(JSON.parse(got.body)).toEqual(n);
    } finally {
      await receiver.close();
    }
  });

  it("When the tenant's audit has a signed head, then the signed body carries it as auditHead, the head the head log holds", async () => {
    const receiver = await startReceiver(204);
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'certops-webhook-head-'));
    try {
      const log = new FileAuditHeadLog(path.join(dir, 'audit-heads.jsonl'));
      const signer = headSignerFrom(Buffer.alloc(32, 5));
      const n = aNotification();
      const unsigned = { index: 1, prev: HEAD_LOG_GENESIS, tenantId: n.tenantId, seq: 12, hash: 'cd'.repeat(32), signedAt: '2026-03-01T00:05:00.000Z', keyId: signer.keyId, algorithm: signer.algorithm };
      const head: SignedHead = { ...unsigned, signature: await signer.sign(signedHeadPayload(unsigned)) };
      await log.append(head);
      const [webhook] = withAuditHeads([new WebhookNotifier({ url: receiver.url, secret: SECRET })], (tenantId) => log.latest(tenantId));

      await webhook.send(n);

      const [got] = receiver.received;
      expect(got.signatureValid).toBe(true);
      const body = JSON.parse(got.body) as WebhookPayload;
      expect(body).toEqual({ ...n, auditHead: head });
      expect(await signer.verify(signedHeadPayload(body.auditHead!), body.auditHead!.signature, body.auditHead!.keyId)).toBe(true);
    } finally {
      await receiver.close();
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('When the head log cannot be read, then the notification still goes out, with auditHead null', async () => {
    const receiver = await startReceiver(204);
    try {
      const [webhook] = withAuditHeads([new WebhookNotifier({ url: receiver.url, secret: SECRET })], async () => {
        throw new Error('EIO');
      });
      await webhook.send(aNotification());
      expect(JSON.parse(receiver.received[0].body)).toMatchObject({ auditHead: null });
    } finally {
      await receiver.close();
    }
  });

  it.each([
    { name: 'the sender uses another secret', secret: 'wrong-secret', clock: undefined },
    { name: 'the request was signed ten minutes ago (a replay)', secret: SECRET, clock: fixedClock(new Date(Date.now() - 600_000)) },
  ])('When $name, then the receiver rejects it and the sender gets PermanentError', async ({ secret, clock }) => {
    const receiver = await startReceiver(204);
    try {
      const error = await new WebhookNotifier({ url: receiver.url, secret, clock }).send(aNotification()).catch((e: unknown) => e);

      expect(receiver.received[0].signatureValid).toBe(false);
      expect(error).toBeInstanceOf(PermanentError);
      expect((error as Error).message).toContain('401');
      expect((error as Error).message).not.toContain(secret);
    } finally {
      await receiver.close();
    }
  });

  it.each([
    { status: 500, expected: RetryableError },
    { status: 503, expected: RetryableError },
    { status: 429, expected: RetryableError },
    { status: 400, expected: PermanentError },
    { status: 404, expected: PermanentError },
  ])('When the receiver answers $status, then send throws $expected.name', async ({ status, expected }) => {
    const receiver = await startReceiver(status);
    try {
      const error = await new WebhookNotifier({ url: receiver.url, secret: SECRET }).send(aNotification()).catch((e: unknown) => e);

      expect(error).toBeInstanceOf(expected);
      expect(error).not.toBeInstanceOf(expected === RetryableError ? PermanentError : RetryableError);
      expect((error as Error).message).not.toContain('/hooks/certops');
    } finally {
      await receiver.close();
    }
  });

  it('When nothing listens on the port, then send throws RetryableError', async () => {
    const receiver = await startReceiver();
    await receiver.close();

    await expect(new WebhookNotifier({ url: receiver.url, secret: SECRET }).send(aNotification())).rejects.toBeInstanceOf(RetryableError);
  });

  it('When the receiver never answers, then send gives up after the timeout with RetryableError', async () => {
    const receiver = await startReceiver(204, { hang: true });
    try {
      const started = Date.now();
      await expect(new WebhookNotifier({ url: receiver.url, secret: SECRET, timeoutMs: 200 }).send(aNotification())).rejects.toBeInstanceOf(RetryableError);
      expect(Date.now() - started).toBeLessThan(3000);
    } finally {
      await receiver.close();
    }
  });
});

describe('verifyWebhookSignature', () => {
  const body = JSON.stringify(aNotification());
  const now = new Date('2030-06-01T00:00:00Z');
  const ts = Math.floor(now.getTime() / 1000);
  const header = signWebhook(SECRET, ts, body);

  it.each([
    { name: 'the exact body, secret and timestamp', args: [SECRET, ts, body, header, now], valid: true },
    { name: 'a body given as a Buffer', args: [SECRET, ts, Buffer.from(body), header, now], valid: true },
    { name: 'a timestamp 299 s old', args: [SECRET, ts, body, header, new Date(now.getTime() + 299_000)], valid: true },
    { name: 'a tampered body', args: [SECRET, ts, body.replace('critical', 'info'), header, now], valid: false },
    { name: 'a wrong secret', args: ['other-secret', ts, body, header, now], valid: false },
    { name: 'a timestamp 301 s old', args: [SECRET, ts, body, header, new Date(now.getTime() + 301_000)], valid: false },
    { name: 'a timestamp 301 s in the future', args: [SECRET, ts, body, header, new Date(now.getTime() - 301_000)], valid: false },
    { name: 'a shifted timestamp with the old signature', args: [SECRET, ts + 1, body, header, now], valid: false },
    { name: 'a missing header', args: [SECRET, ts, body, undefined, now], valid: false },
    { name: 'a header without the sha256= prefix', args: [SECRET, ts, body, header.slice(7), now], valid: false },
    { name: 'a non-numeric timestamp', args: [SECRET, 'abc', body, header, now], valid: false },
  ] as Array<{ name: string; args: Parameters<typeof verifyWebhookSignature>; valid: boolean }>)('When checking $name, then it is valid=$valid', ({ args, valid }) => {
    expect(verifyWebhookSignature(...args)).toBe(valid);
  });

  it('When the tolerance is narrowed to 10 s, then a 60 s old signature is refused', () => {
    expect(verifyWebhookSignature(SECRET, ts, body, header, new Date(now.getTime() + 60_000), 10)).toBe(false);
  });
});

describe('ConsoleNotifier', () => {
  function capture() {
    const chunks: string[] = [];
    return { sink: { write: (c: string) => chunks.push(c) }, text: () => chunks.join('') };
  }

  it.each([
    { severity: 'critical' as const, marker: '[CRITICAL]' },
    { severity: 'warning' as const, marker: '[WARNING]' },
    { severity: 'info' as const, marker: '[INFO]' },
  ])('When a $severity notification is sent, then two lines show the marker, tenant, title and who is told', async ({ severity, marker }) => {
    const out = capture();
    const n = aNotification({ severity });

    await new ConsoleNotifier({ stream: out.sink }).send(n);

    const lines = out.text().trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toContain(marker);
    expect(lines[0]).toContain('contoso');
    expect(lines[0]).toContain(n.title);
    expect(lines[0]).toContain('Alice Admin <alice@msp.test>');
    expect(lines[1]).toContain(n.text);
  });

  it('When a title carries a newline, then it cannot forge an extra line', async () => {
    const out = capture();

    await new ConsoleNotifier({ stream: out.sink }).send(aNotification({ title: 'ok\n[INFO] forged: all fine' }));

    expect(out.text().trimEnd().split('\n')).toHaveLength(2);
  });
});
