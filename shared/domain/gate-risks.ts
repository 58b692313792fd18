/**
 * Risk rules: what makes one renewal riskier than the tenant's usual, so that its gate is raised
 * above the tenant's level for this action only (the tenant's level stays as it is).
 *
 * - wildcard-fleet: a wildcard certificate deployed on many endpoints: one bad deploy breaks them all.
 * - production-endpoint: an endpoint the MSP tagged as production.
 * - foreign-certificate: certops never deployed this certificate (its first rotation, or someone
 *   replaced certops' certificate by hand): pinning, a different chain or a client that trusts only
 *   the old CA may be in play.
 * - ca-change: the certificate will come from another CA than the one certops last used for it.
 *
 * - overridden: a human rolled back this certificate's last rotation: renewing it again without
 *   asking would undo the human's decision (and loop: rotate, override, rotate…).
 *
 * wildcard-fleet, production-endpoint and overridden are on by default (the first two only fire on
 * what the MSP configured); foreign-certificate and ca-change are opt-in per tenant: every first
 * rotation of an onboarded fleet would otherwise wait for a human.
 */
import type { GateLevel, GateRisk } from './gate-policy';

export interface RiskRules {
  /** A wildcard on more than this many endpoints is a fleet (default 5). */
  wildcardEndpoints?: number;
  /** Endpoint tags that mean production (default ['production', 'prod']). */
  productionTags?: string[];
  foreignCertificate?: boolean;
  caChange?: boolean;
  /** The level a risk asks for (default L2). */
  raiseTo?: GateLevel;
}

export interface RiskFacts {
  dnsNames: readonly string[];
  endpoints: ReadonlyArray<{ endpointId: string; tags: readonly string[] }>;
  /** The fingerprint certops last deployed (null: never), and what is served now. */
  deployedFingerprint: string | null;
  servedFingerprint: string | null;
  /** The issuer certops last issued this certificate from, and the one it will use now. */
  lastIssuer: string | null;
  nextIssuer: string;
  /** When a human last rolled this certificate's rotation back, and why (null: never, or since re-approved). */
  overridden?: { at: string; reason: string } | null;
}

const DEFAULT_WILDCARD_ENDPOINTS = 5;
const DEFAULT_PRODUCTION_TAGS = ['production', 'prod'];

export function gateRisks(facts: RiskFacts, rules: RiskRules = {}): GateRisk[] {
  const raiseTo = rules.raiseTo ?? 'L2';
  const risks: GateRisk[] = [];
  const threshold = rules.wildcardEndpoints ?? DEFAULT_WILDCARD_ENDPOINTS;
  const wildcards = facts.dnsNames.filter((n) => n.startsWith('*.'));
  if (wildcards.length > 0 && facts.endpoints.length > threshold) {
    risks.push({ code: 'wildcard-fleet', raiseTo, detail: `the wildcard ${wildcards.join(', ')} is deployed on ${facts.endpoints.length} endpoints (more than ${threshold})` });
  }
  const tags = new Set((rules.productionTags ?? DEFAULT_PRODUCTION_TAGS).map((t) => t.toLowerCase()));
  const production = facts.endpoints.filter((e) => e.tags.some((t) => tags.has(t.toLowerCase())));
  if (production.length > 0) {
    risks.push({ code: 'production-endpoint', raiseTo, detail: `${production.map((e) => e.endpointId).join(', ')} ${production.length === 1 ? 'is' : 'are'} tagged production` });
  }
  if (rules.foreignCertificate && (facts.deployedFingerprint === null || (facts.servedFingerprint !== null && facts.servedFingerprint !== facts.deployedFingerprint))) {
    risks.push({
      code: 'foreign-certificate',
      raiseTo,
      detail: facts.deployedFingerprint === null ? 'certops has never deployed this certificate (its first rotation)' : 'the served certificate was not deployed by certops (replaced by hand?)',
    });
  }
  if (facts.overridden) {
    risks.push({ code: 'overridden', raiseTo, detail: `a human rolled back its last rotation (${facts.overridden.at}: ${facts.overridden.reason})` });
  }
  if (rules.caChange && facts.lastIssuer !== null && facts.lastIssuer !== facts.nextIssuer) {
    risks.push({ code: 'ca-change', raiseTo, detail: `the certificate moves from ${facts.lastIssuer} to ${facts.nextIssuer}` });
  }
  return risks;
}
