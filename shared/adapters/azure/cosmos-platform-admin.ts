/**
 * CosmosPlatformAdmin: the only cross-partition reads of the Cosmos DB adapters. Every other
 * request of CosmosCertificateStore, CosmosAuditLog and CosmosAcmeOrderJournal names the tenant's
 * partition key; these two list which tenants exist at all.
 *
 * Who may call: platform operators' paths that act for no single tenant: the scheduled sweep
 * that fans out one message per tenant (pipeline/inventory.ts, `listTenants`), and the CLI's audit
 * report across tenants (`tenants`). A handler acting for a tenant never needs it: its tenant comes
 * with its message. Keep this class out of anything wired per tenant, so that a review of who can
 * read across tenants is a search for its name.
 *
 * Both read one small marker document per tenant (not every record): `type: 'tenant'` in `state`,
 * written by the store before a tenant's first record, and the chain head (`type: 'head'`) in
 * `audit`. No DISTINCT (the test server lacks it): one marker per tenant needs none.
 */
import type { Container } from '@azure/cosmos';

/** The `type` of the per-tenant marker documents the listings read. */
export const TENANT_MARKER_TYPE = 'tenant';
export const AUDIT_HEAD_TYPE = 'head';

export class CosmosPlatformAdmin {
  constructor(private readonly containers: { state?: Container; audit?: Container }) {}

  /** Tenants with any inventory or state (observations, managed certificates, notifications), sorted. */
  async listTenants(): Promise<string[]> {
    return tenantsMarkedIn(required(this.containers.state, 'state'), TENANT_MARKER_TYPE);
  }

  /** Tenants with an audit chain, sorted. */
  async auditTenants(): Promise<string[]> {
    return tenantsMarkedIn(required(this.containers.audit, 'audit'), AUDIT_HEAD_TYPE);
  }
}

async function tenantsMarkedIn(container: Container, type: string): Promise<string[]> {
  // Deliberately cross-partition (no partitionKey option): this is the one place that may be.
  const { resources } = await container.items
    .query<string>({ query: 'SELECT VALUE c.tenantId FROM c WHERE c.type = @type', parameters: [{ name: '@type', value: type }] })
    .fetchAll();
  return [...new Set(resources)].sort();
}

function required(container: Container | undefined, name: string): Container {
  if (!container) throw new Error(`CosmosPlatformAdmin was built without the ${name} container: pass it to the constructor`);
  return container;
}
