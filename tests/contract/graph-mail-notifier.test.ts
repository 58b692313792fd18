import * as https from 'node:https';
import type { Client } from '@microsoft/microsoft-graph-client';
import { GraphMailNotifier, graphClient } from '../../shared/adapters/graph/graph-mail-notifier';
import { buildMime, encodedWords, quotedPrintable } from '../../shared/adapters/graph/mime';
import { notificationMail } from '../../shared/adapters/graph/notification-mail';
import type { NotifierLogger } from '../../shared/adapters/teams/teams-workflow-notifier';
import { fixedClock } from '../../shared/domain/clock';
import { PermanentError, RetryableError } from '../../shared/domain/errors';
import type { Notification, NotificationAction } from '../../shared/ports/notifier';
import { FakeCredential } from '../support/fake-credential';
import { startGraphStub, type GraphStub } from '../support/graph-stub';

// ---- builders: the rotation-completed notification as shared/pipeline/stages/notify.ts builds it

const FROM = '3f9ac21b77e0d4c1'.repeat(4);
const TO = 'b7e0d4c13f9ac21b'.repeat(4);
const SENDER = 'certops@msp.test';
const TOKEN = 'graph-token-7f3a9c';

function l1Actions(): NotificationAction[] {
  return (['Review', 'Override', 'Escalate'] as const).map((label) => ({ label, url: `https://certops.msp.test/api/v1/notifications/n1/${label.toLowerCase()}` }));
}

function aRotationCompleted(overrides: Partial<Notification> = {}): Notification {
  return {
    id: `contoso:rotation:web:${TO.slice(0, 16)}`,
    tenantId: 'contoso',
    kind: 'rotation-completed',
    severity: 'info',
    title: 'Renewed and deployed web (L1: review, override or escalate)',
    text: 'L1: certops acts, then tells the assigned human. Reason: expires in 9 days. Every address verified serving the new certificate: www.contoso.test:443@10.0.0.1, www.contoso.test:443@10.0.0.2.',
    to: { name: 'Alice Admin', email: 'alice@msp.test' },
    subject: { certificateId: 'web', fingerprint: TO },
    facts: { from: FROM, to: TO, notAfter: '2030-09-01T00:00:00.000Z', level: 'L1', verifiedAddresses: 2 },
    occurredAt: '2030-06-01T00:00:00.000Z',
    correlationId: 'corr-1',
    actions: l1Actions(),
    ...overrides,
  };
}

function aRecordingLogger(): NotifierLogger & { lines: string[] } {
  const lines: string[] = [];
  return { lines, info: (obj, msg) => lines.push(`${msg} ${JSON.stringify(obj)}`), warn: (obj, msg) => lines.push(`${msg} ${JSON.stringify(obj)}`) };
}

function everythingIn(err: unknown): string {
  const parts: string[] = [];
  for (let e = err as { message?: string; stack?: string; cause?: unknown } | undefined; e; e = e.cause as typeof e) parts.push(String(e.message), String(e.stack));
  return parts.join('\n');
}

// ---- against the stub, with the real Graph client ---------------------------------------------

describe('GraphMailNotifier', () => {
  let stub: GraphStub;
  let credential: FakeCredential;
  let client: Client;
  let logger: ReturnType<typeof aRecordingLogger>;
  let notifier: GraphMailNotifier;

  beforeAll(async () => {
    stub = await startGraphStub();
  });
  afterAll(() => stub.close());
  beforeEach(() => {
    stub.mails.length = 0;
    stub.requests.length = 0;
    credential = new FakeCredential(TOKEN);
    client = graphClient({ baseUrl: stub.baseUrl, credential, fetchOptions: { agent: stub.agent } });
    logger = aRecordingLogger();
    notifier = new GraphMailNotifier({ client, senderUserId: SENDER, clock: fixedClock('2030-06-01T00:00:05Z'), logger });
  });

  it('When a rotation completed, then one sendMail as the sender carries a bearer token and a MIME mail to the contact', async () => {
    await notifier.send(aRotationCompleted());

    expect(stub.requests).toEqual([
      expect.objectContaining({ method: 'POST', path: '/v1.0/users/certops%40msp.test/sendMail', authorization: `Bearer ${TOKEN}`, contentType: 'text/plain', status: 202 }),
    ]);
    expect(credential.requests[0].scopes).toEqual(['https://graph.microsoft.com/.default']);
    expect(stub.mails).toHaveLength(1);
    const [mail] = stub.mails;
    expect(mail).toMatchObject({ sender: SENDER, format: 'mime', to: ['alice@msp.test'], toHeader: 'Alice Admin <alice@msp.test>' });
    expect(mail.headers.from).toBe(`certops <${SENDER}>`);
    expect(mail.headers.date).toBe('Sat, 01 Jun 2030 00:00:05 +0000');
    expect(mail.headers['x-certops-notification-id']).toBe(aRotationCompleted().id);
  });

  it('When a rotation completed, then the mail has a text part then an HTML part, both with the fingerprints, the addresses and the action links', async () => {
    await notifier.send(aRotationCompleted());

    const [mail] = stub.mails;
    expect(mail.parts.map((p) => [p.contentType, p.charset?.toUpperCase()])).toEqual([
      ['text/plain', 'UTF-8'],
      ['text/html', 'UTF-8'],
    ]);
    for (const body of [mail.text ?? '', mail.html ?? '']) {
      expect(body).toContain(FROM);
      expect(body).toContain(TO);
      expect(body).toContain('www.contoso.test:443@10.0.0.1, www.contoso.test:443@10.0.0.2');
      expect(body).toContain('2030-09-01T00:00:00.000Z');
      for (const a of l1Actions()) expect(body).toContain(a.url);
    }
    for (const a of l1Actions()) expect(mail.html).toContain(`<a href="${a.url}"`);
    expect(mail.text).toContain('Renewed and deployed web');
    expect(mail.html).not.toMatch(/<img|src=|<link|url\(/i);
  });

  it('When the mail is on the wire, then every line ends in CRLF and none is longer than 78 characters', async () => {
    await notifier.send(aRotationCompleted({ text: `${'Long reason without a break '.repeat(20)}ünïcödé ✓ 証明書` }));

    const [mail] = stub.mails;
    expect(mail.bareLineFeeds).toBe(0);
    expect(mail.longestLine).toBeLessThanOrEqual(78);
    expect(mail.text).toContain(`${'Long reason without a break '.repeat(20)}ünïcödé ✓ 証明書`);
  });

  it.each([
    { name: 'German, a dash, a check mark and Japanese', title: 'Zertifikat für ünïcödé.example erneuert — Prüfung bestanden ✓ 証明書を更新しました (L1: überprüfen)' },
    { name: 'one ASCII letter then three-byte characters (word limits fall inside characters)', title: `a${'証明書'.repeat(12)}` },
  ])('When the title is $name, then the subject and the non-ASCII To name round-trip through encoded-words', async ({ title }) => {
    const n = aRotationCompleted({ title, to: { name: 'Zoë Åström, "ops"', email: 'zoe@msp.test' } });

    await notifier.send(n);

    const [mail] = stub.mails;
    expect(mail.subject).toBe(notificationMail(n).subject);
    expect(mail.subject).toContain(title);
    expect(mail.raw).toMatch(/^Subject: =\?UTF-8\?B\?[A-Za-z0-9+/=]+\?=\r\n =\?UTF-8\?B\?/m);
    expect(mail.toHeader).toBe('Zoë Åström, "ops" <zoe@msp.test>');
    expect(mail.to).toEqual(['zoe@msp.test']);
  });

  it('When two notifications are sent, then Graph gets two sendMail calls, one per notification', async () => {
    await notifier.send(aRotationCompleted());
    await notifier.send(aRotationCompleted({ id: 'contoso:rotation:api:1', subject: { certificateId: 'api' } }));

    expect(stub.requests.filter((r) => r.path.endsWith('/sendMail'))).toHaveLength(2);
    expect(stub.mails.map((m) => m.headers['x-certops-notification-id'])).toEqual([aRotationCompleted().id, 'contoso:rotation:api:1']);
    expect(stub.mails[0].headers['message-id']).not.toBe(stub.mails[1].headers['message-id']);
  });

  it('When the same notification is sent again (redelivery), then the Message-ID is the same, so mail clients can deduplicate', async () => {
    await notifier.send(aRotationCompleted());
    await notifier.send(aRotationCompleted());

    expect(stub.mails[0].headers['message-id']).toMatch(/^<[0-9a-f]{32}@msp\.test>$/);
    expect(stub.mails[1].headers['message-id']).toBe(stub.mails[0].headers['message-id']);
  });

  it('When the contact has no e-mail address, then nothing is sent, send resolves and the reason is logged', async () => {
    await notifier.send(aRotationCompleted({ to: { name: 'Teams-only Tom' } }));

    expect(stub.requests).toHaveLength(0);
    expect(logger.lines.join('\n')).toMatch(/e-mail skipped.*Teams-only Tom.*no-email-address/);
  });

  it('When Graph answers 429 with Retry-After once, then send gives RetryableError saying when, without retrying itself, and the next send succeeds', async () => {
    stub.failNext({ status: 429, code: 'ApplicationThrottled', message: 'Application is over its MailboxConcurrency limit.', retryAfter: '7' });

    const error = await notifier.send(aRotationCompleted()).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(RetryableError);
    expect((error as Error).message).toMatch(/429 ApplicationThrottled.*retry after 7 s/);
    expect(stub.requests).toHaveLength(1);
    expect(stub.mails).toHaveLength(0);

    await notifier.send(aRotationCompleted());
    expect(stub.mails).toHaveLength(1);
  });

  it.each([
    { status: 503, code: 'ServiceUnavailable', expected: RetryableError, mentions: 'retried' },
    { status: 500, code: 'ErrorInternalServerError', expected: RetryableError, mentions: 'retried' },
    { status: 403, code: 'ErrorAccessDenied', expected: PermanentError, mentions: 'Mail.Send' },
    { status: 401, code: 'InvalidAuthenticationToken', expected: PermanentError, mentions: 'Mail.Send' },
    { status: 404, code: 'ErrorInvalidUser', expected: PermanentError, mentions: 'senderUserId' },
    { status: 400, code: 'ErrorMimeContentInvalid', expected: PermanentError, mentions: 'ErrorMimeContentInvalid' },
  ])('When Graph answers $status $code, then send gives $expected.name mentioning $mentions, and the token leaks nowhere', async ({ status, code, expected, mentions }) => {
    stub.failNext({ status, code, message: 'Access is denied. Check credentials and try again.' });

    const error = await notifier.send(aRotationCompleted()).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(expected);
    expect(error).not.toBeInstanceOf(expected === RetryableError ? PermanentError : RetryableError);
    expect((error as Error).message).toContain(mentions);
    expect((error as Error).message).toContain(`${status} ${code}`);
    expect(everythingIn(error)).not.toContain(TOKEN);
    expect(logger.lines.join('\n')).not.toContain(TOKEN);
  });

  it('When the client cannot reach Graph, then send gives RetryableError', async () => {
    const closed = await startGraphStub();
    await closed.close();
    const offline = graphClient({ baseUrl: closed.baseUrl, credential, fetchOptions: { agent: new https.Agent({ ca: closed.caPem }) } });

    const error = await new GraphMailNotifier({ client: offline, senderUserId: SENDER }).send(aRotationCompleted()).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(RetryableError);
    expect((error as Error).message).toMatch(/ECONNREFUSED/);
  });

  it('When the client uses global fetch (no agent) and the host is not trusted, then send gives RetryableError and no mail arrives', async () => {
    const untrusting = graphClient({ baseUrl: stub.baseUrl, credential, timeoutInMs: 5_000 });

    const error = await new GraphMailNotifier({ client: untrusting, senderUserId: SENDER }).send(aRotationCompleted()).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(RetryableError);
    expect(stub.mails).toHaveLength(0);
  });

  it('When the contact address would inject a header, then send gives PermanentError and nothing is sent', async () => {
    const error = await notifier.send(aRotationCompleted({ to: { name: 'Mallory', email: 'alice@msp.test\r\nBcc: eve@evil.test' } })).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(PermanentError);
    expect(stub.requests).toHaveLength(0);
  });

  it('When the base URL is plain http, then graphClient refuses it (the SDK would silently send no token)', () => {
    expect(() => graphClient({ baseUrl: 'http://127.0.0.1:1', credential })).toThrow(PermanentError);
  });
});

// ---- the stub itself follows Graph ------------------------------------------------------------

describe('Graph stub', () => {
  let stub: GraphStub;
  beforeAll(async () => {
    stub = await startGraphStub();
  });
  afterAll(() => stub.close());

  it('When sendMail comes as JSON through the real client, then the stub accepts it with 202 and records it', async () => {
    const client = graphClient({ baseUrl: stub.baseUrl, credential: new FakeCredential(), fetchOptions: { agent: stub.agent } });

    await client.api('/users/certops@msp.test/sendMail').post({
      message: { subject: 'Hello', body: { contentType: 'HTML', content: '<p>hi</p>' }, toRecipients: [{ emailAddress: { address: 'alice@msp.test' } }] },
      saveToSentItems: false,
    });

    expect(stub.mails.at(-1)).toMatchObject({ format: 'json', sender: 'certops@msp.test', subject: 'Hello', html: '<p>hi</p>', to: ['alice@msp.test'], saveToSentItems: false });
  });

  it('When a request has no bearer token, then the stub answers 401 InvalidAuthenticationToken', async () => {
    const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = https.request(`${stub.baseUrl}/v1.0/users/x/sendMail`, { method: 'POST', agent: stub.agent, headers: { 'content-type': 'text/plain' } }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      });
      req.on('error', reject);
      req.end('');
    });

    expect(status).toBe(401);
    expect(JSON.parse(body)).toMatchObject({ error: { code: 'InvalidAuthenticationToken' } });
  });
});

// ---- the MIME encodings -----------------------------------------------------------------------

describe('MIME encodings', () => {
  const decodeQp = (qp: string) => {
    const soft = qp.replace(/=\r\n/g, '');
    return Buffer.from(soft.replace(/=([0-9A-F]{2})|([\s\S])/g, (_m, hex: string | undefined, ch: string | undefined) => (hex ? String.fromCharCode(parseInt(hex, 16)) : ch!)), 'latin1')
      .toString('utf8')
      .replace(/\r\n/g, '\n');
  };

  it.each([
    { name: 'a long ASCII line', text: 'x'.repeat(300) },
    { name: 'non-ASCII across soft breaks', text: 'ü✓証'.repeat(40) },
    { name: 'trailing spaces and tabs', text: 'end with space \nend with tab\t\n' },
    { name: 'equals signs and dots', text: '=3D is not an escape here\n.\n.leading dot' },
    { name: 'mixed line endings', text: 'a\r\nb\nc' },
  ])('When the text is $name, then quoted-printable round-trips with lines of at most 76 characters and no trailing white space', ({ text }) => {
    const qp = quotedPrintable(text);

    expect(decodeQp(qp)).toBe(text.replace(/\r\n/g, '\n'));
    for (const line of qp.split('\r\n')) {
      expect(line.length).toBeLessThanOrEqual(76);
      expect(line).not.toMatch(/[ \t]$/);
    }
    expect(qp).not.toMatch(/(^|[^\r])\n/);
  });

  it('When a header text is long and not ASCII, then each encoded-word is at most 75 characters and holds whole characters', () => {
    const text = '証明書を更新しました ✓ '.repeat(8);
    const words = encodedWords(text);

    expect(words.length).toBeGreaterThan(1);
    for (const w of words) {
      expect(w.length).toBeLessThanOrEqual(75);
      expect(Buffer.from(w.slice(10, -2), 'base64').toString('utf8')).not.toContain('\ufffd');
    }
    expect(words.map((w) => Buffer.from(w.slice(10, -2), 'base64').toString('utf8')).join('')).toBe(text);
  });

  it('When the subject carries CR LF, then no header can be forged', () => {
    const mime = buildMime({ to: [{ address: 'a@b.test' }], subject: 'Hi\r\nBcc: eve@evil.test', date: new Date(0), text: 't', html: 'h', boundary: '=_b' });

    expect(mime).not.toMatch(/^Bcc:/m);
  });
});
