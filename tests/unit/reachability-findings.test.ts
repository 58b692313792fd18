/**
 * What a failed probe means for the endpoint, and in particular an address certops' own host has
 * no route to (defect 8: dual-stack false alarms). The real staging, through the pipeline in a
 * network namespace without routes, is tests/e2e/dual-stack-unroutable-family.test.ts.
 */
import type { FindingCode, Severity } from '../../shared/domain/finding';
import { probeFailureFinding, type AddressOutcome } from '../../shared/domain/reachability-findings';

const noRoute = (address: string): AddressOutcome => ({ address, outcome: 'error', error: { code: 'no-route', message: `[${address}]:443: certops has no route` } });
const served = (address: string): AddressOutcome => ({ address, outcome: 'ok', error: null });
const failed = (address: string, code: string): AddressOutcome => ({ address, outcome: 'error', error: { code, message: `${address}:443: ${code}` } });

describe('probeFailureFinding for an address certops has no route to', () => {
  const cases: Array<{ name: string; address: string; addresses: AddressOutcome[]; code: FindingCode; severity: Severity; family: string }> = [
    { name: 'its IPv4 address served a certificate', address: '2001:db8::7', addresses: [served('192.0.2.7'), noRoute('2001:db8::7')], code: 'address-unroutable', severity: 'info', family: 'IPv6' },
    // The refusal is the outage and has its own critical finding; the unroutable address adds no second one.
    { name: 'its IPv4 address refused the connection', address: '2001:db8::8', addresses: [failed('192.0.2.8', 'connection-refused'), noRoute('2001:db8::8')], code: 'address-unroutable', severity: 'info', family: 'IPv6' },
    { name: 'its IPv6 address served a certificate (an IPv6-only certops host)', address: '192.0.2.9', addresses: [noRoute('192.0.2.9'), served('2001:db8::9')], code: 'address-unroutable', severity: 'info', family: 'IPv4' },
    { name: 'it is the endpoint’s only address', address: '2001:db8::9', addresses: [noRoute('2001:db8::9')], code: 'endpoint-unreachable', severity: 'critical', family: 'IPv6' },
    { name: 'every address of both families is unroutable', address: '192.0.2.10', addresses: [noRoute('192.0.2.10'), noRoute('2001:db8::10')], code: 'endpoint-unreachable', severity: 'critical', family: 'IPv4' },
    { name: 'its other addresses are not known (judged as the only one)', address: '2001:db8::11', addresses: [], code: 'endpoint-unreachable', severity: 'critical', family: 'IPv6' },
  ];

  it.each(cases)('When $name, then $severity $code naming $family', ({ address, addresses, code, severity, family }) => {
    const f = probeFailureFinding('www.acme.test', 443, address, { code: 'no-route', message: 'connect ENETUNREACH' }, addresses);
    expect(f).toMatchObject({ code, severity, detail: { address, family, errorCode: 'no-route' } });
    expect(f.message).toContain(`no ${family} route`);
    expect(f.message).toContain(address);
    expect(f.message).toMatch(/; .+\.$/); // says what to do next
  });

  it('When other addresses were checked, then the note names them', () => {
    const f = probeFailureFinding('www.acme.test', 443, '2001:db8::7', noRoute('2001:db8::7').error!, [served('192.0.2.7'), served('192.0.2.8'), noRoute('2001:db8::7')]);
    expect(f.message).toContain('192.0.2.7, 192.0.2.8');
  });
});

describe('probeFailureFinding for an address that was routed to and failed', () => {
  it.each(['connection-refused', 'endpoint-unreachable', 'handshake-failed', 'handshake-timeout', 'no-certificate'])(
    'When the probe says %s beside an address that served a certificate, then it is still a critical finding of that code',
    (code) => {
      const f = probeFailureFinding('www.acme.test', 443, '192.0.2.8', { code, message: 'x' }, [served('192.0.2.7'), failed('192.0.2.8', code)]);
      expect(f).toMatchObject({ code, severity: 'critical' });
    },
  );
});
