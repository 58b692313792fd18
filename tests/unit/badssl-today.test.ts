/**
 * The badssl.com certificates in tests/fixtures are all past their notAfter today
 * (2026-11-29): judged at today's date, every one is expired, with a reason and a count of days.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parsePemBundle } from '../../shared/domain/certificate';
import { assessExpiry } from '../../shared/domain/renewal';
import { renewalVerdict } from '../../shared/domain/renewal-checks';
import { fixturePath } from '../support/fixtures';

const BADSSL = fixturePath('x509', 'badssl');
const TODAY = new Date('2026-11-29T12:00:00Z');
const files = readdirSync(BADSSL).filter((f) => f.endsWith('.pem'));

it('When the reference set is read, then it holds the badssl chains', () => {
  expect(files.length).toBeGreaterThanOrEqual(18);
});

it.each(files)('When %s is judged today, then its leaf is expired and a managed copy would be renewed', (file) => {
  const [leaf] = parsePemBundle(readFileSync(path.join(BADSSL, file), 'utf8'));
  const assessment = assessExpiry({ notBefore: leaf.notBefore, notAfter: leaf.notAfter }, TODAY);
  expect(assessment.status).toBe('expired');
  expect(assessment.reason).toBe('Expired');
  expect(assessment.daysLeft).toBeLessThan(0);
  expect(assessment.message).toMatch(/expired/);
  expect(renewalVerdict({ status: assessment.status, statusReason: assessment.reason, findings: [] })).toEqual({ renew: true, reason: 'Expired' });
});
