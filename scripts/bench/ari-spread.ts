/**
 * How renewals spread when the CA's window (ACME ARI) times them, against the lifetime rule:
 * certificates issued together renew together under "2/3 of the lifetime" (one burst), while each
 * gets its own moment in the CA's window under ARI (domain/ari.ts stableRenewalMoment). Real
 * CertIDs of the bench's leaves, one 48-hour window (Let's Encrypt's are of that order).
 */
import { ariCertId, stableRenewalMoment } from '../../shared/domain/ari';
import { parsePemBundle } from '../../shared/domain/certificate';

const HOUR_MS = 3_600_000;
export const ARI_WINDOW_HOURS = 48;

export function measureAriSpread(leafPems: string[]): { certificates: number; busiestHourAri: number; busiestHourLifetimeRule: number } {
  const start = new Date('2027-01-01T00:00:00Z');
  const window = { start, end: new Date(start.getTime() + ARI_WINDOW_HOURS * HOUR_MS) };
  const before = new Date(start.getTime() - HOUR_MS);
  const buckets = new Map<number, number>();
  for (const pem of leafPems) {
    const certId = ariCertId(parsePemBundle(pem)[0].der);
    const hour = Math.floor((stableRenewalMoment(window, certId, before).at.getTime() - start.getTime()) / HOUR_MS);
    buckets.set(hour, (buckets.get(hour) ?? 0) + 1);
  }
  // The lifetime rule: same notBefore and lifetime, same renewal instant, for every one of them.
  return { certificates: leafPems.length, busiestHourAri: Math.max(...buckets.values()), busiestHourLifetimeRule: leafPems.length };
}
