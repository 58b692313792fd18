/**
 * The daily digest: one notification that lists what a tenant's noise control held back
 * (notification-policy.ts: below the minimum severity, or during quiet hours). Pure: the digest
 * timer lists the queue (GovernanceStore.listDigest), sends what this returns, then clears the
 * listed ids.
 *
 * Idempotency: the digest's id is derived from the set of item ids (order does not matter), so a
 * timer that crashes after sending and before clearing sends the same id again, and receivers
 * deduplicate on it. An item queued in between makes a different set, hence a new digest (which
 * repeats the unsent-but-delivered items; listing one twice is better than losing one).
 */
import { createHash } from 'node:crypto';
import type { Notification } from '../ports/notifier';
import { severityRank } from './notification-policy';

/** Item lines listed at most; the rest are counted ("…and N more") so a backlog stays readable. */
export const DIGEST_MAX_LINES = 200;

export interface DigestEntry {
  /** The queue item's id (its idempotency key). */
  id: string;
  notification: Notification;
  queuedAt: string;
}

/**
 * Kinds in the order the digest lists them: what needs a human first. A kind not listed here
 * (none today) comes last.
 */
const KIND_ORDER: readonly Notification['kind'][] = [
  'rotation-failed',
  'approval-requested',
  'approval-expired',
  'certificate-state-changed',
  'gate-changed',
  'recommendation',
  'rotation-completed',
  'digest',
];

/**
 * The digest of `items` for `tenantId`, addressed to `to`; null when there is nothing to tell.
 * - severity: the highest among the items;
 * - title: "N updates for <tenant> since <earliest queuedAt, UTC>";
 * - text: one section per kind (most urgent first), one line per item (oldest first), at most
 *   DIGEST_MAX_LINES item lines, then "…and N more";
 * - facts: the number of items per kind;
 * - id and correlationId: `<tenant>:digest:<hash of the sorted item ids>`.
 * Throws when an item's notification belongs to another tenant (a digest never mixes tenants).
 */
export function buildDigest(tenantId: string, items: readonly DigestEntry[], now: Date, to: Notification['to']): Notification | null {
  if (items.length === 0) return null;
  for (const item of items) {
    if (item.notification.tenantId !== tenantId) {
      throw new Error(
        `digest item ${item.id} belongs to tenant ${item.notification.tenantId}, not ${tenantId}: the caller mixed tenants' queues`,
      );
    }
  }
  const sorted = [...items].sort(byQueuedThenId);
  const groups = groupByKind(sorted);
  const id = `${tenantId}:digest:${digestKey(items)}`;
  const earliest = sorted[0].queuedAt;
  const severity = items.map((i) => i.notification.severity).reduce((a, b) => (severityRank(b) > severityRank(a) ? b : a));
  return {
    id,
    tenantId,
    kind: 'digest',
    severity,
    title: `${items.length} ${items.length === 1 ? 'update' : 'updates'} for ${tenantId} since ${utcMinute(earliest)}`,
    text: renderText(groups, items.length),
    to: to.email ? { name: to.name, email: to.email } : { name: to.name },
    subject: {},
    facts: Object.fromEntries(groups.map(([kind, group]) => [kind, group.length])),
    occurredAt: now.toISOString(),
    correlationId: id,
  };
}

/** Hex SHA-256 (first 32 digits) of the sorted, de-duplicated item ids. */
function digestKey(items: readonly DigestEntry[]): string {
  const ids = [...new Set(items.map((i) => i.id))].sort();
  return createHash('sha256').update(JSON.stringify(ids), 'utf8').digest('hex').slice(0, 32);
}

function byQueuedThenId(a: DigestEntry, b: DigestEntry): number {
  const at = Date.parse(a.queuedAt) - Date.parse(b.queuedAt);
  if (at !== 0 && Number.isFinite(at)) return at;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

function groupByKind(sorted: readonly DigestEntry[]): Array<[Notification['kind'], DigestEntry[]]> {
  const groups = new Map<Notification['kind'], DigestEntry[]>();
  for (const item of sorted) {
    const group = groups.get(item.notification.kind) ?? [];
    group.push(item);
    groups.set(item.notification.kind, group);
  }
  const rank = (k: Notification['kind']) => (KIND_ORDER.includes(k) ? KIND_ORDER.indexOf(k) : KIND_ORDER.length);
  return [...groups.entries()].sort(([a], [b]) => rank(a) - rank(b));
}

function renderText(groups: Array<[Notification['kind'], DigestEntry[]]>, total: number): string {
  const lines: string[] = [];
  let listed = 0;
  for (const [kind, group] of groups) {
    if (listed >= DIGEST_MAX_LINES) break;
    if (lines.length > 0) lines.push('');
    lines.push(`${kind} (${group.length}):`);
    for (const item of group) {
      if (listed >= DIGEST_MAX_LINES) break;
      lines.push(itemLine(item.notification));
      listed += 1;
    }
  }
  if (listed < total) lines.push(`…and ${total - listed} more`);
  return lines.join('\n');
}

/** One line per item, whatever its title holds (a newline in a title would break the listing). */
function itemLine(n: Notification): string {
  return `- ${utcMinute(n.occurredAt)} [${n.severity}] ${n.title.replace(/\s+/g, ' ').trim()}`;
}

/** `2026-03-28 22:15 UTC`; an unreadable time is shown as given rather than thrown on. */
function utcMinute(iso: string): string {
  const t = Date.parse(iso);
  return Number.isFinite(t) ? `${new Date(t).toISOString().slice(0, 16).replace('T', ' ')} UTC` : iso;
}
