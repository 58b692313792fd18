import { escapeMarkdown, notificationCard } from '../../shared/adapters/teams/adaptive-card';
import { TeamsWorkflowNotifier, type NotifierLogger } from '../../shared/adapters/teams/teams-workflow-notifier';
import { PermanentError, RetryableError } from '../../shared/domain/errors';
import type { Notification, NotificationAction } from '../../shared/ports/notifier';
import { startTeamsWorkflowReceiver, type TeamsWorkflowReceiver } from '../support/teams-workflow-receiver';
import { adaptiveCardErrors } from '../support/adaptive-card-schema';

// ---- builders: the shapes shared/pipeline/stages/notify.ts produces ----------------------------

const FROM = '3f9ac21b77e0d4c1'.repeat(4);
const TO = 'b7e0d4c13f9ac21b'.repeat(4);
const API = 'https://certops.msp.test/api/v1';

function l1Actions(id = 'n1'): NotificationAction[] {
  return (['Review', 'Override', 'Escalate'] as const).map((label) => ({ label, url: `${API}/notifications/${id}/${label.toLowerCase()}` }));
}

function aNotification(kind: Notification['kind'], overrides: Partial<Notification> = {}): Notification {
  const base: Notification = {
    id: `contoso:${kind}:web`,
    tenantId: 'contoso',
    kind,
    severity: 'warning',
    title: `web: ${kind}`,
    text: 'Something certops noticed.',
    to: { name: 'Alice Admin', email: 'alice@msp.test' },
    subject: { certificateId: 'web' },
    facts: {},
    occurredAt: '2030-06-01T00:00:00.000Z',
    correlationId: 'corr-1',
    actions: [],
  };
  return { ...base, ...KIND_DEFAULTS[kind], ...overrides };
}

const KIND_DEFAULTS: Record<Notification['kind'], Partial<Notification>> = {
  'rotation-completed': {
    severity: 'info',
    title: 'Renewed and deployed web (L1: review, override or escalate)',
    text: 'L1: certops acts, then tells the assigned human. Reason: expires in 9 days. Every address verified serving the new certificate: www.contoso.test:443@10.0.0.1, www.contoso.test:443@10.0.0.2.',
    subject: { certificateId: 'web', fingerprint: TO },
    facts: { from: FROM, to: TO, notAfter: '2030-09-01T00:00:00.000Z', level: 'L1', verifiedAddresses: 2 },
    actions: l1Actions(),
  },
  'certificate-state-changed': {
    severity: 'critical',
    title: 'www.contoso.test:443 is expired (expired 2 days ago)',
    text: 'expired: the certificate expired on 2030-05-30',
    subject: { endpoint: 'www.contoso.test:443', fingerprint: FROM },
    facts: { status: 'expired', findings: null, notAfter: '2030-05-30T00:00:00.000Z', previousState: 'changed' },
  },
  'rotation-failed': {
    severity: 'critical',
    title: 'Rotation of web failed and was rolled back: action needed',
    text: 'deploy failed: nginx reload exited 1. The previous certificate is still what is served (verified).',
    to: { name: 'Bob Escalation', email: 'bob@msp.test' },
    subject: { certificateId: 'web', fingerprint: FROM },
    facts: { attempted: TO, rolledBack: true, restoredVerified: true, level: 'L1' },
    actions: l1Actions(),
  },
  'approval-requested': {
    title: 'Approve renewal of web?',
    text: 'L2: a human approves before certops acts.',
    subject: { certificateId: 'web', fingerprint: FROM },
    facts: { reason: 'expires in 9 days', status: 'warning', notAfter: '2030-06-10T00:00:00.000Z', level: 'L2' },
    actions: [
      { label: 'Approve', url: `${API}/approvals/a1/approve` },
      { label: 'Deny', url: `${API}/approvals/a1/deny` },
    ],
  },
  'approval-expired': {
    title: 'The approval to renew web expired unanswered',
    text: 'certops asked on 2030-06-01T00:00:00.000Z and nobody answered before 2030-06-04T00:00:00.000Z.',
    subject: { certificateId: 'web' },
    facts: { approvalId: 'web:renew:0123456789abcdef', action: 'renew' },
    actions: [{ label: 'Open', url: `${API}/certificates/web` }],
  },
  recommendation: {
    title: 'Recommended: renew web',
    text: 'L3: certops recommends, a human acts.',
    facts: { reason: 'expires in 9 days', status: 'warning', notAfter: '2030-06-10T00:00:00.000Z', level: 'L3' },
    actions: [{ label: 'Open', url: `${API}/certificates/web` }],
  },
  'gate-changed': { severity: 'info', title: 'Gate of web changed from L2 to L1', facts: { level: 'L1' } },
  digest: { severity: 'info', title: 'Weekly digest: 12 certificates, 1 needs attention', text: 'web expires in 9 days.', subject: {} },
};

const ALL_KINDS = Object.keys(KIND_DEFAULTS) as Array<Notification['kind']>;

const schemaErrors = adaptiveCardErrors;

type Element = { type: string; text?: string; items?: Element[]; facts?: Array<{ title: string; value: string }>; [k: string]: unknown };
type Card = { type: string; version: string; body: Element[]; actions: Array<{ type: string; title: string; url: string; style?: string }> };

/** Every element of the card body, depth first. */
function elements(card: Card): Element[] {
  const walk = (list: Element[]): Element[] => list.flatMap((e) => [e, ...walk(e.items ?? [])]);
  return walk(card.body);
}
const texts = (card: Card) => elements(card).filter((e) => e.type === 'TextBlock').map((e) => e.text ?? '');
const facts = (card: Card) => Object.fromEntries(elements(card).flatMap((e) => e.facts ?? []).map((f) => [f.title, f.value]));

// ---- the card ---------------------------------------------------------------------------------

describe('notificationCard', () => {
  it('When the card validator is given a broken card, then it reports the errors (the schema check can fail)', () => {
    const card = notificationCard(aNotification('rotation-completed')) as Card;
    const broken = { ...card, msteams: { width: 'Full' }, body: [...card.body, { type: 'FactSet', facts: [{ title: 'no value' }] }] };

    expect(schemaErrors(broken).length).toBeGreaterThan(0);
    expect(schemaErrors({ type: 'AdaptiveCard', version: '1.5', body: [{ type: 'TextBlock' }] }).length).toBeGreaterThan(0);
  });

  it.each(ALL_KINDS)('When the notification is %s, then its card is a valid Adaptive Card 1.5', (kind) => {
    const card = notificationCard(aNotification(kind)) as Card;

    expect(schemaErrors(card)).toEqual([]);
    expect(card.version).toBe('1.5');
  });

  it('When a rotation completed, then the card says what was done and why, and carries both fingerprints, notAfter, the gate level, the verified addresses and the L1 buttons', () => {
    const n = aNotification('rotation-completed');
    const card = notificationCard(n) as Card;
    const f = facts(card);
    const monospace = elements(card).filter((e) => e.fontType === 'monospace').map((e) => e.text);

    expect(texts(card)).toContain(escapeMarkdown(n.title));
    expect(texts(card).join('\n')).toContain('www.contoso.test:443@10.0.0.1, www.contoso.test:443@10.0.0.2');
    expect(f).toMatchObject({
      'Old fingerprint': `${FROM.slice(0, 16)}…`,
      'New fingerprint': `${TO.slice(0, 16)}…`,
      'Not after': '2030-09-01T00:00:00.000Z',
      'Gate level': 'L1',
      'Addresses verified': '2',
      Certificate: 'web',
    });
    expect(monospace).toEqual([FROM, TO]);
    expect(card.actions).toEqual(
      l1Actions().map((a) => expect.objectContaining({ type: 'Action.OpenUrl', title: a.label, url: a.url })),
    );
  });

  it('When the facts name the verified addresses, then the FactSet shows them', () => {
    const n = aNotification('rotation-completed', { facts: { ...KIND_DEFAULTS['rotation-completed'].facts, verified: 'www.contoso.test:443@10.0.0.1, www.contoso.test:443@10.0.0.2' } });

    expect(facts(notificationCard(n) as Card)['Verified addresses']).toBe('www.contoso.test:443@10.0.0.1, www.contoso.test:443@10.0.0.2');
  });

  it.each([
    { name: 'critical', n: aNotification('rotation-failed'), container: 'attention' },
    { name: 'warning', n: aNotification('approval-requested'), container: 'warning' },
    { name: 'info', n: aNotification('digest'), container: 'accent' },
    { name: 'a completed rotation', n: aNotification('rotation-completed'), container: 'good' },
  ])('When the severity is $name, then the banner has the $container style', ({ n, container }) => {
    const banner = (notificationCard(n) as Card).body[0];

    // The schema's style patterns are unanchored alternations (`^(default)|…|(accent)$`) that accept
    // any string containing a style name, so the exact value is asserted here.
    expect(banner).toMatchObject({ type: 'Container', style: container });
    expect(banner.items?.[0]).toMatchObject({ color: container });
  });

  it('When the title and text hold Markdown, then they show as written (escaped) and cannot add a link', () => {
    const n = aNotification('rotation-completed', { title: 'Renewed *web_prod* [click](https://evil.test)', text: '- not a list\n1. not a list either {{DATE(2030-01-01T00:00:00Z)}}' });
    const card = notificationCard(n) as Card;

    expect(texts(card)).toContain('Renewed \\*web\\_prod\\* \\[click\\]\\(https://evil.test\\)');
    expect(texts(card)).toContain('\\- not a list\n1\\. not a list either {\u200b{DATE\\(2030-01-01T00:00:00Z\\)}}');
    expect(texts(card).join('\n')).not.toMatch(/(^|[^\\])\[click\]/);
  });

  it('When there are more than six actions or a non-web link, then the card keeps the first six web links', () => {
    const actions: NotificationAction[] = [
      { label: 'Open', url: 'javascript:alert(1)' },
      ...Array.from({ length: 7 }, (_, i) => ({ label: 'Review' as const, url: `${API}/r/${i}` })),
    ];
    const card = notificationCard(aNotification('recommendation', { actions })) as Card;

    expect(card.actions.map((a) => a.url)).toEqual(Array.from({ length: 6 }, (_, i) => `${API}/r/${i}`));
    expect(schemaErrors(card)).toEqual([]);
  });

  it('When Approve and Deny are offered, then Approve is positive and Deny destructive', () => {
    const card = notificationCard(aNotification('approval-requested')) as Card;

    expect(card.actions.map((a) => [a.title, a.style])).toEqual([
      ['Approve', 'positive'],
      ['Deny', 'destructive'],
    ]);
  });

  it.each(ALL_KINDS)('When the notification is %s, then the card loads nothing from elsewhere (no image, no icon, no background)', (kind) => {
    const json = JSON.stringify(notificationCard(aNotification(kind)));

    expect(json).not.toMatch(/"type":"Image"|"iconUrl"|"backgroundImage"|"ImageSet"|"Media"/);
  });
});

// ---- the notifier -----------------------------------------------------------------------------

function aRecordingLogger(): NotifierLogger & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    info: (obj, msg) => lines.push(`${msg} ${JSON.stringify(obj)}`),
    warn: (obj, msg) => lines.push(`${msg} ${JSON.stringify(obj)}`),
  };
}

/** Everything an error could leak through: message, stack, cause chain, enumerable fields. */
function everythingIn(err: unknown): string {
  const parts: string[] = [];
  for (let e = err as { message?: string; stack?: string; cause?: unknown } | undefined; e; e = e.cause as typeof e) {
    parts.push(String(e.message), String(e.stack), JSON.stringify(e));
  }
  return parts.join('\n');
}

describe('TeamsWorkflowNotifier', () => {
  let receiver: TeamsWorkflowReceiver;
  beforeEach(async () => {
    receiver = await startTeamsWorkflowReceiver();
  });
  afterEach(() => receiver.close());

  it('When a notification is sent, then the workflow receives exactly one POST with the card as a message attachment, at the signed URL', async () => {
    const logger = aRecordingLogger();
    const n = aNotification('rotation-completed');

    await new TeamsWorkflowNotifier({ url: receiver.url, logger }).send(n);

    expect(receiver.received).toHaveLength(1);
    const [post] = receiver.received;
    expect(post.method).toBe('POST');
    expect(post.headers['content-type']).toBe('application/json');
    expect(post.query.get('sig')).toBe(receiver.sig);
    expect(post.json).toEqual({
      type: 'message',
      attachments: [{ contentType: 'application/vnd.microsoft.card.adaptive', contentUrl: null, content: notificationCard(n) }],
    });
    expect(logger.lines.join('\n')).not.toContain(receiver.sig);
    expect(logger.lines.join('\n')).toContain(new URL(receiver.url).origin);
  });

  it('When three notifications are sent, then the workflow receives three POSTs, one per notification', async () => {
    const notifier = new TeamsWorkflowNotifier({ url: receiver.url });
    const sent = ALL_KINDS.slice(0, 3).map((kind) => aNotification(kind));

    for (const n of sent) await notifier.send(n);

    expect(receiver.received.map((r) => (r.json as { attachments: Array<{ content: unknown }> }).attachments[0].content)).toEqual(sent.map((n) => notificationCard(n)));
  });

  it.each([
    { status: 202, body: '', outcome: 'accepted', expected: undefined },
    { status: 200, body: '', outcome: 'accepted', expected: undefined },
    { status: 429, body: '', retryAfter: '30', outcome: 'RetryableError', expected: RetryableError },
    { status: 500, body: '', outcome: 'RetryableError', expected: RetryableError },
    { status: 503, body: '', outcome: 'RetryableError', expected: RetryableError },
    { status: 400, body: '{"error":{"code":"InvalidRequestContent","message":"bad"}}', outcome: 'PermanentError', expected: PermanentError },
    { status: 404, body: '{"error":{"code":"WorkflowNotFound","message":"The workflow was not found."}}', outcome: 'PermanentError', expected: PermanentError },
  ])('When the workflow answers $status, then the send is $outcome and nothing leaks the signature', async ({ status, body, retryAfter, expected }) => {
    receiver.answer({ status, body, headers: retryAfter ? { 'retry-after': retryAfter } : {} });
    const logger = aRecordingLogger();

    const error = await new TeamsWorkflowNotifier({ url: receiver.url, logger }).send(aNotification('rotation-failed')).then(() => undefined, (e: unknown) => e);

    expect(receiver.received).toHaveLength(1);
    if (expected === undefined) {
      expect(error).toBeUndefined();
    } else {
      expect(error).toBeInstanceOf(expected);
      expect(error).not.toBeInstanceOf(expected === RetryableError ? PermanentError : RetryableError);
      expect((error as Error).message).toContain(String(status));
      expect(everythingIn(error)).not.toContain(receiver.sig);
      expect(everythingIn(error)).not.toContain('/workflows/');
    }
    if (retryAfter) expect((error as Error).message).toContain(`retry after ${retryAfter}`);
    if (body.includes('WorkflowNotFound')) expect((error as Error).message).toContain('WorkflowNotFound');
    expect(logger.lines.join('\n')).not.toContain(receiver.sig);
  });

  it('When nothing listens at the URL, then send gives RetryableError that names the origin only', async () => {
    const url = receiver.url;
    await receiver.close();
    const logger = aRecordingLogger();

    const error = await new TeamsWorkflowNotifier({ url, logger }).send(aNotification('rotation-completed')).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(RetryableError);
    expect((error as Error).message).toContain(new URL(url).origin);
    expect((error as Error).message).toMatch(/ECONNREFUSED/);
    expect(everythingIn(error)).not.toContain(receiver.sig);
    expect(logger.lines.join('\n')).not.toContain(receiver.sig);
    receiver = await startTeamsWorkflowReceiver(); // for afterEach
  });

  it('When the workflow does not answer in time, then send gives RetryableError after the timeout', async () => {
    receiver.answer({ status: 202, hang: true });
    const started = process.hrtime.bigint();

    const error = await new TeamsWorkflowNotifier({ url: receiver.url, timeoutMs: 200 }).send(aNotification('digest')).catch((e: unknown) => e);

    const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;
    expect(error).toBeInstanceOf(RetryableError);
    expect(elapsedMs).toBeLessThan(5_000);
    expect(everythingIn(error)).not.toContain(receiver.sig);
  });

  it.each([
    { name: 'plain http to another host', url: 'http://prod-12.westeurope.logic.azure.com/workflows/x/triggers/manual/paths/invoke?api-version=1&sig=S3CR3Tsig' },
    { name: 'not a URL', url: 'prod-12 sig=S3CR3Tsig' },
  ])('When the URL is $name, then the notifier refuses it without repeating the signature', ({ url }) => {
    let error: unknown;
    try {
      new TeamsWorkflowNotifier({ url });
    } catch (e) {
      error = e;
    }

    expect(error).toBeInstanceOf(PermanentError);
    expect(everythingIn(error)).not.toContain('S3CR3Tsig');
  });
});
