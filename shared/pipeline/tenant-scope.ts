/**
 * Tenant scope of an event's contents: the envelope's `tenantid` picks the tenant, and everything
 * the data names must be that tenant's. An event for tenant A that names B's endpoint or
 * certificate (forged, or misrouted by a foreign producer) is refused with a TenantScopeError, so
 * the runner dead-letters it with the reason; no stage ever acts on it for A.
 */
import { TenantScopeError } from '../domain/errors';
import type { TenantConfig } from '../config/model';
import { endpointRef } from './endpoints';
import type { EndpointRef } from './event-data';
import type { StageContext } from './stage';

/** The tenant of the event; a tenant that is not configured is out of scope too. */
export function scopedTenant(ctx: StageContext): TenantConfig {
  const tenant = ctx.deps.tenants.get(ctx.tenantId);
  if (!tenant) throw new TenantScopeError(`tenant ${ctx.tenantId} is not configured; the event is refused`);
  return tenant;
}

/** The endpoint as the tenant configures it; refuses one the tenant does not have, or whose managed certificate differs. */
export function assertOwnEndpoint(ctx: StageContext, endpoint: EndpointRef): void {
  const tenant = scopedTenant(ctx);
  const own = tenant.endpoints.map(endpointRef).find((e) => e.endpointId === endpoint.endpointId);
  if (!own || own.host !== endpoint.host || own.port !== endpoint.port || own.servername !== endpoint.servername || own.managedCertificateId !== endpoint.managedCertificateId) {
    throw new TenantScopeError(
      `an event of tenant ${ctx.tenantId} names endpoint ${endpoint.endpointId}${endpoint.managedCertificateId ? ` (certificate ${endpoint.managedCertificateId})` : ''}, which is not configured so for that tenant; refused as forged or misrouted`,
    );
  }
}

/** Refuses a certificate id that is not one of the tenant's managed certificates. */
export function assertOwnCertificate(ctx: StageContext, certificateId: string): void {
  const tenant = scopedTenant(ctx);
  if (!tenant.managedCertificates?.some((m) => m.id === certificateId)) {
    throw new TenantScopeError(`an event of tenant ${ctx.tenantId} names certificate ${certificateId}, which is not one of that tenant's managed certificates; refused as forged or misrouted`);
  }
}
