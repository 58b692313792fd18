/**
 * TenantDirectory: the tenants certops serves and their configuration (endpoints, managed
 * certificates, assigned human, policy). The embedded runtime reads it from the config file;
 * later, connectors (PSA, RMM, Graph) feed it.
 *
 * Contract: `get` returns undefined for an unknown tenant (the caller records that as a
 * permanent failure); results are immutable snapshots.
 */
import type { TenantConfig } from '../config/model';

export interface TenantDirectory {
  list(): readonly TenantConfig[];
  get(tenantId: string): TenantConfig | undefined;
}
