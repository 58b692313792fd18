import { decideGate } from '../../shared/domain/gate-policy';
import { gateRisks, type RiskFacts } from '../../shared/domain/gate-risks';

function facts(overrides: Partial<RiskFacts> = {}): RiskFacts {
  return {
    dnsNames: ['www.acme.test'],
    endpoints: [{ endpointId: 'www.acme.test:443', tags: [] }],
    deployedFingerprint: 'aa',
    servedFingerprint: 'aa',
    lastIssuer: 'local-ca',
    nextIssuer: 'local-ca',
    ...overrides,
  };
}
const fleet = (count: number) => Array.from({ length: count }, (_, i) => ({ endpointId: `e${i}.acme.test:443`, tags: [] as string[] }));

it.each<[string, Partial<RiskFacts>, object, string[]]>([
  ['an ordinary renewal', {}, {}, []],
  ['a wildcard on 6 endpoints', { dnsNames: ['*.acme.test'], endpoints: fleet(6) }, {}, ['wildcard-fleet']],
  ['a wildcard on 5 endpoints (not more than 5)', { dnsNames: ['*.acme.test'], endpoints: fleet(5) }, {}, []],
  ['a wildcard over a configured threshold of 2', { dnsNames: ['*.acme.test'], endpoints: fleet(3) }, { wildcardEndpoints: 2 }, ['wildcard-fleet']],
  ['an endpoint tagged Production', { endpoints: [{ endpointId: 'www.acme.test:443', tags: ['Production'] }] }, {}, ['production-endpoint']],
  ['a first rotation, rule off (default)', { deployedFingerprint: null }, {}, []],
  ['a first rotation, rule on', { deployedFingerprint: null }, { foreignCertificate: true }, ['foreign-certificate']],
  ['a certificate replaced by hand, rule on', { servedFingerprint: 'bb' }, { foreignCertificate: true }, ['foreign-certificate']],
  ['a change of CA, rule on', { lastIssuer: 'local-ca', nextIssuer: 'acme' }, { caChange: true }, ['ca-change']],
  ['a first issuance (no last CA), CA rule on', { lastIssuer: null, nextIssuer: 'acme' }, { caChange: true }, []],
])('When it is %s, then the risks are %j', (_case, f, rules, codes) => {
  expect(gateRisks(facts(f), rules).map((r) => r.code)).toEqual(codes);
});

it('When a risk asks for L2 on a tenant at L1, then this action waits for approval, and the rationale says why', () => {
  const risks = gateRisks(facts({ endpoints: [{ endpointId: 'pay.acme.test:443', tags: ['production'] }] }));
  const decision = decideGate({ tenantId: 'acme', action: 'rotate', assignee: { name: 'Dana' }, subject: 'pay', risks });
  expect(decision).toMatchObject({ level: 'L2', outcome: 'await-approval', reason: 'Risk', risks });
  expect(decision.rationale).toContain('pay.acme.test:443 is tagged production');
});

it('When the tenant is already at L3, then a risk asking for L2 does not lower it', () => {
  const risks = gateRisks(facts({ endpoints: [{ endpointId: 'pay.acme.test:443', tags: ['production'] }] }));
  expect(decideGate({ tenantId: 'acme', action: 'rotate', tenantLevels: { rotate: 'L3' }, assignee: { name: 'Dana' }, subject: 'pay', risks })).toMatchObject({ level: 'L3', reason: 'TenantPolicy' });
});

it.each([
  ['override-rate', 'Learned'],
  ['escalation', 'Escalated'],
] as const)('When the pair was raised by %s, then the decision is L2 with reason %s', (by, reason) => {
  const decision = decideGate({ tenantId: 'acme', action: 'renew', assignee: { name: 'Dana' }, subject: 'www', raised: { level: 'L2', by, reason: 'because' } });
  expect(decision).toMatchObject({ level: 'L2', outcome: 'await-approval', reason });
  expect(decision.rationale).toContain('renew was raised to L2 for tenant acme: because');
});

it('When a human rolled back the last rotation, then the next renewal of that certificate asks first, whatever the tenant level', () => {
  const risks = gateRisks(facts({ overridden: { at: '2026-11-29T08:00:00Z', reason: 'override by human:dana: the terminal pins the key' } }));
  expect(risks.map((r) => r.code)).toEqual(['overridden']);
  const decision = decideGate({ tenantId: 'acme', action: 'renew', tenantLevels: { renew: 'L0' }, assignee: { name: 'Dana' }, subject: 'pay', risks });
  expect(decision).toMatchObject({ level: 'L2', reason: 'Risk' });
  expect(decision.rationale).toContain('a human rolled back its last rotation');
});
