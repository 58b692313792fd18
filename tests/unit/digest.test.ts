import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createEmbeddedRuntime } from '../../shared/composition-root';
import { buildDigest, DIGEST_MAX_LINES, type DigestEntry } from '../../shared/domain/digest';
import { headLine } from '../../shared/domain/signed-head';
import { createLogger } from '../../shared/observability/logger';
import { signAuditHeads } from '../../shared/pipeline/audit-heads';
import { sendDigests } from '../../shared/pipeline/digest-job';
import type { Notification, Notifier } from '../../shared/ports/notifier';
import { aTestConfig } from '../support/config-builders';
import { aNotification } from '../support/notification-builders';


function anItem(id: string, queuedAt: string, overrides: Partial<Notification> = {}): DigestEntry {
  return { id, queuedAt, notification: aNotification({ id, occurredAt: queuedAt, ...overrides }) };
}

const NOW = new Date('2026-03-29T07:00:00.000Z');
const DANA = { name: 'Dana Reyes', email: 'dana@msp.example' };

describe('buildDigest', () => {
  it('When nothing was held back, then there is no digest', () => {
    expect(buildDigest('acme', [], NOW, DANA)).toBeNull();
  });

  it('When one warning was held back, then the digest tells it to the given person, dated now', () => {
    const digest = buildDigest('acme', [anItem('n1', '2026-03-28T22:15:00.000Z')], NOW, DANA);
    expect(digest).toEqual({
      id: expect.stringMatching(/^acme:digest:[0-9a-f]{32}$/),
      tenantId: 'acme',
      kind: 'digest',
      severity: 'warning',
      title: '1 update for acme since 2026-03-28 22:15 UTC',
      text: 'certificate-state-changed (1):\n- 2026-03-28 22:15 UTC [warning] www.acme.example:443 is expiring (12 days left)',
      to: DANA,
      subject: {},
      facts: { 'certificate-state-changed': 1 },
      occurredAt: '2026-03-29T07:00:00.000Z',
      correlationId: digest?.id,
    });
  });

  it('When items of several kinds were held back, then the text groups them by kind, most urgent first, oldest first within a kind', () => {
    const items = [
      anItem('n3', '2026-03-28T23:00:00.000Z', { kind: 'rotation-completed', severity: 'info', title: 'Renewed and deployed www-acme' }),
      anItem('n1', '2026-03-28T21:00:00.000Z', { title: 'a.acme.example:443 is expiring (20 days left)' }),
      anItem('n4', '2026-03-29T01:00:00.000Z', { kind: 'recommendation', title: 'Recommended: renew api-acme' }),
      anItem('n2', '2026-03-28T22:00:00.000Z', { severity: 'info', title: 'b.acme.example:443 is healthy again' }),
    ];
    const digest = buildDigest('acme', items, NOW, DANA)!;
    expect(digest.title).toBe('4 updates for acme since 2026-03-28 21:00 UTC');
    expect(digest.text).toBe(
      [
        'certificate-state-changed (2):',
        '- 2026-03-28 21:00 UTC [warning] a.acme.example:443 is expiring (20 days left)',
        '- 2026-03-28 22:00 UTC [info] b.acme.example:443 is healthy again',
        '',
        'recommendation (1):',
        '- 2026-03-29 01:00 UTC [warning] Recommended: renew api-acme',
        '',
        'rotation-completed (1):',
        '- 2026-03-28 23:00 UTC [info] Renewed and deployed www-acme',
      ].join('\n'),
    );
    expect(digest.facts).toEqual({ 'certificate-state-changed': 2, recommendation: 1, 'rotation-completed': 1 });
  });

  it.each<[string, Notification['severity'][], Notification['severity']]>([
    ['only infos', ['info', 'info'], 'info'],
    ['an info and a warning', ['info', 'warning'], 'warning'],
    ['a warning, then infos', ['warning', 'info', 'info'], 'warning'],
    ['a critical among others', ['info', 'critical', 'warning'], 'critical'],
  ])('When the items are %s, then the digest has the highest severity', (_name, severities, expected) => {
    const items = severities.map((severity, i) => anItem(`n${i}`, `2026-03-28T2${i}:00:00.000Z`, { severity }));
    expect(buildDigest('acme', items, NOW, DANA)!.severity).toBe(expected);
  });

  describe('the id', () => {
    const a = anItem('acme:endpoint:a:443:1', '2026-03-28T21:00:00.000Z');
    const b = anItem('acme:endpoint:b:443:1', '2026-03-28T22:00:00.000Z');
    const c = anItem('acme:endpoint:c:443:1', '2026-03-28T23:00:00.000Z');

    it('When the same items are digested again later (a resend after a crash), then the id is the same', () => {
      const first = buildDigest('acme', [a, b], NOW, DANA)!;
      const again = buildDigest('acme', [b, a], new Date('2026-03-30T07:00:00.000Z'), { name: 'Night shift' })!;
      expect(again.id).toBe(first.id);
      expect(again.correlationId).toBe(first.id);
    });

    it('When the items are those of a stored digest, then the id is the one computed before (stable across releases)', () => {
      expect(buildDigest('acme', [a, b], NOW, DANA)!.id).toBe('acme:digest:813a8742ce9f40ffa17610cb1e8142be');
    });

    it.each<[string, DigestEntry[]]>([
      ['one item more', [a, b, c]],
      ['one item fewer', [a]],
      ['another item', [a, c]],
    ])('When the set of items differs by %s, then the id differs', (_name, other) => {
      expect(buildDigest('acme', other, NOW, DANA)!.id).not.toBe(buildDigest('acme', [a, b], NOW, DANA)!.id);
    });

    it('When two item ids would collide if joined naively, then the ids still differ', () => {
      const joined = buildDigest('acme', [anItem('x,y', '2026-03-28T21:00:00.000Z')], NOW, DANA)!;
      const separate = buildDigest('acme', [anItem('x', '2026-03-28T21:00:00.000Z'), anItem('y', '2026-03-28T21:00:00.000Z')], NOW, DANA)!;
      expect(joined.id).not.toBe(separate.id);
    });

    it('When another tenant has items with the same ids, then its digest id differs', () => {
      const other = [a, b].map((i) => ({ ...i, notification: { ...i.notification, tenantId: 'globex' } }));
      expect(buildDigest('globex', other, NOW, DANA)!.id).not.toBe(buildDigest('acme', [a, b], NOW, DANA)!.id);
    });
  });

  it.each<[number, number, string | null]>([
    [DIGEST_MAX_LINES, DIGEST_MAX_LINES, null],
    [DIGEST_MAX_LINES + 1, DIGEST_MAX_LINES, '…and 1 more'],
    [250, DIGEST_MAX_LINES, '…and 50 more'],
  ])('When %i items were held back, then %i are listed and the rest counted', (count, listed, tail) => {
    const items = Array.from({ length: count }, (_, i) => anItem(`n${String(i).padStart(4, '0')}`, new Date(Date.UTC(2026, 2, 28) + i * 60_000).toISOString()));
    const digest = buildDigest('acme', items, NOW, DANA)!;
    const lines = digest.text.split('\n');
    expect(lines.filter((l) => l.startsWith('- '))).toHaveLength(listed);
    expect(lines[0]).toBe(`certificate-state-changed (${count}):`);
    expect(lines.at(-1)).toEqual(tail ?? expect.stringMatching(/^- /));
    expect(digest.title).toBe(`${count} updates for acme since 2026-03-28 00:00 UTC`);
    expect(digest.facts).toEqual({ 'certificate-state-changed': count });
  });

  it('When more items than fit are of several kinds, then the least urgent kinds are the ones cut', () => {
    const failures = Array.from({ length: DIGEST_MAX_LINES - 1 }, (_, i) => anItem(`f${i}`, '2026-03-28T21:00:00.000Z', { kind: 'rotation-failed' }));
    const completed = Array.from({ length: 5 }, (_, i) => anItem(`c${i}`, '2026-03-28T20:00:00.000Z', { kind: 'rotation-completed', severity: 'info' }));
    const text = buildDigest('acme', [...completed, ...failures], NOW, DANA)!.text;
    expect(text.startsWith('rotation-failed (199):')).toBe(true);
    expect(text).toContain('rotation-completed (5):');
    expect(text.match(/\[info\]/g)).toHaveLength(1);
    expect(text.endsWith('…and 4 more')).toBe(true);
  });

  it('When a title spans several lines, then its item is still one line', () => {
    const digest = buildDigest('acme', [anItem('n1', '2026-03-28T22:15:00.000Z', { title: 'first\nsecond\r\n  third ' })], NOW, DANA)!;
    expect(digest.text.split('\n')).toEqual(['certificate-state-changed (1):', '- 2026-03-28 22:15 UTC [warning] first second third']);
  });

  it('When the person has no e-mail address, then the digest is addressed by name only', () => {
    expect(buildDigest('acme', [anItem('n1', '2026-03-28T22:15:00.000Z')], NOW, { name: 'Night shift' })!.to).toEqual({ name: 'Night shift' });
  });

  it("When an item belongs to another tenant, then no digest is built (a digest never shows another tenant's items)", () => {
    const stray = anItem('g1', '2026-03-28T22:15:00.000Z', { tenantId: 'globex' });
    expect(() => buildDigest('acme', [anItem('n1', '2026-03-28T22:00:00.000Z'), stray], NOW, DANA)).toThrow(
      /digest item g1 belongs to tenant globex, not acme/,
    );
  });
});

describe('sendDigests', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'certops-digest-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("When a digest goes out, then it carries the tenant's latest signed audit head, as the head log holds it", async () => {
    const sent: Notification[] = [];
    const recorder: Notifier = { channel: 'recorder', send: async (n) => void sent.push(n) };
    const runtime = createEmbeddedRuntime(aTestConfig(dir, { tenants: [{ id: 'acme', assignee: { name: 'Dana' }, endpoints: [] }] as never }), {
      notify: false,
      logger: createLogger({ level: 'silent' }),
      decorate: (deps) => ({ ...deps, notifiers: [recorder] }),
    });
    try {
      await runtime.deps.audit.append('acme', { kind: 'certificate.discovered', actor: 'stage:discover', correlationId: 'c', data: {} });
      const [head] = await signAuditHeads(runtime.deps);
      await runtime.deps.governance.queueDigest({ tenantId: 'acme', id: 'n1', queuedAt: '2026-03-28T22:15:00.000Z', notification: aNotification({ id: 'n1' }) });

      expect(await sendDigests(runtime.deps)).toEqual([{ tenantId: 'acme', items: 1 }]);

      expect(sent).toHaveLength(1);
      expect(sent[0].facts.auditHead).toBe(headLine(head));
      expect(JSON.parse(String(sent[0].facts.auditHead))).toMatchObject({ tenantId: 'acme', seq: 1, index: 1 });
    } finally {
      await runtime.close();
    }
  });
});
