/** Renders the inventory for a terminal: a fixed-width table with the columns an engineer scans. */
import type { InventoryRow } from '../pipeline/inventory';

const STATUS_MARK: Record<string, string> = {
  healthy: 'ok',
  'renewal-due': 'due',
  expiring: 'EXPIRING',
  critical: 'CRITICAL',
  expired: 'EXPIRED',
  'not-yet-valid': 'NOT-YET-VALID',
  unobserved: 'UNREACHABLE',
};

function cut(text: string, width: number): string {
  return text.length > width ? `${text.slice(0, width - 1)}…` : text.padEnd(width);
}

function subjectCn(subject: string | null): string {
  if (subject === null) return '-';
  if (subject === '') return '(empty subject)';
  return /CN=([^,]+)/.exec(subject)?.[1] ?? subject;
}

export function formatInventory(rows: InventoryRow[]): string {
  const header = ['TENANT', 'ENDPOINT', 'ADDRESS', 'SUBJECT', 'SANS', 'ISSUER', 'NOT AFTER', 'DAYS', 'STATUS', 'FINDINGS'];
  const widths = [10, 34, 11, 24, 28, 22, 10, 5, 11, 0];
  const line = (cells: string[]) => cells.map((c, i) => (widths[i] ? cut(c, widths[i]) : c)).join(' ').trimEnd();
  const out = [line(header)];
  for (const r of rows) {
    const sans = r.sans.length > 2 ? `${r.sans.slice(0, 2).join(',')} +${r.sans.length - 2}` : r.sans.join(',');
    out.push(
      line([
        r.tenant,
        r.endpoint,
        r.address || '-',
        subjectCn(r.subject),
        sans || '-',
        subjectCn(r.issuer),
        r.notAfter?.slice(0, 10) ?? '-',
        r.daysLeft === null ? '-' : String(r.daysLeft),
        STATUS_MARK[r.status] ?? r.status,
        r.findings.map((f) => f.code).join(',') || '-',
      ]),
    );
  }
  return out.join('\n');
}
