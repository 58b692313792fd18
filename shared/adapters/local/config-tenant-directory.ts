/** TenantDirectory over the tenants of the configuration file (the embedded runtime's source). */
import type { TenantConfig } from '../../config/model';
import type { TenantDirectory } from '../../ports/tenant-directory';

export class ConfigTenantDirectory implements TenantDirectory {
  private readonly byId: Map<string, TenantConfig>;

  constructor(private readonly tenants: readonly TenantConfig[]) {
    this.byId = new Map(tenants.map((t) => [t.id, t]));
  }

  list(): readonly TenantConfig[] {
    return this.tenants;
  }

  get(tenantId: string): TenantConfig | undefined {
    return this.byId.get(tenantId);
  }
}
