import {
  DEFAULT_GATE_LEVELS,
  decideGate,
  type ActionType,
  type GateLevel,
  type GateOutcome,
} from '../../shared/domain/gate-policy';

// Builder: a gate question for tenant "acme" about one certificate, overridable field by field.
function aGateQuestion(overrides: Partial<Parameters<typeof decideGate>[0]> = {}) {
  return {
    tenantId: 'acme',
    action: 'renew' as ActionType,
    assignee: { name: 'Dana Reyes', email: 'dana@msp.example' },
    subject: 'www.acme.example',
    ...overrides,
  };
}

describe('decideGate with the default levels', () => {
  it.each<[ActionType, GateLevel, GateOutcome, boolean]>([
    ['renew', 'L1', 'proceed', true],
    ['rotate', 'L1', 'proceed', true],
    ['revoke', 'L2', 'await-approval', false],
    ['credential-roll', 'L2', 'await-approval', false],
  ])('When the tenant has no policy for %s, then the level is %s and the outcome %s', (action, level, outcome, notifyAfter) => {
    const decision = decideGate(aGateQuestion({ action }));
    expect(decision).toMatchObject({ action, level, outcome, notifyAfter, reason: 'Default' });
    expect(DEFAULT_GATE_LEVELS[action]).toBe(level);
  });

  it('When a renewal is gated by default, then the rationale names level, action, subject, assignee and why', () => {
    expect(decideGate(aGateQuestion()).rationale).toBe(
      'L1: certops will renew www.acme.example and then notify Dana Reyes, who may review, roll back or escalate, ' +
        'because renewing replaces a certificate with an equivalent one and can be rolled back (the default level for renew).',
    );
  });

  it('When a revocation is gated by default, then the rationale says it cannot be undone', () => {
    expect(decideGate(aGateQuestion({ action: 'revoke' })).rationale).toMatch(
      /^L2: certops will not revoke www\.acme\.example until Dana Reyes approves, because a revocation cannot be undone \(the default level for revoke\)\.$/,
    );
  });
});

describe('decideGate with a tenant policy', () => {
  it.each<[GateLevel, GateOutcome, boolean, RegExp]>([
    ['L0', 'proceed', false, /without notifying anyone \(logged and audited only\)/],
    ['L1', 'proceed', true, /and then notify Dana Reyes/],
    ['L2', 'await-approval', false, /until Dana Reyes approves/],
    ['L3', 'recommend-only', false, /only recommends to renew www\.acme\.example; Dana Reyes decides and acts/],
  ])('When the tenant sets renew to %s, then the outcome is %s', (level, outcome, notifyAfter, says) => {
    const decision = decideGate(aGateQuestion({ tenantLevels: { renew: level } }));
    expect(decision).toMatchObject({ level, outcome, notifyAfter, reason: 'TenantPolicy' });
    expect(decision.rationale).toMatch(says);
    expect(decision.rationale).toContain("because tenant acme's policy sets renew to " + level);
  });

  it('When the tenant sets only revoke, then renew keeps its default and says so', () => {
    const decision = decideGate(aGateQuestion({ tenantLevels: { revoke: 'L3' } }));
    expect(decision).toMatchObject({ level: 'L1', reason: 'Default' });
  });

  it('When the assignee has an email, then the decision tells that person at that address', () => {
    expect(decideGate(aGateQuestion()).tell).toEqual({ name: 'Dana Reyes', email: 'dana@msp.example' });
  });

  it('When the assignee has no email, then the decision tells that person by name only', () => {
    const decision = decideGate(aGateQuestion({ assignee: { name: 'Night shift' } }));
    expect(decision.tell).toEqual({ name: 'Night shift' });
  });
});
