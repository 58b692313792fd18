/**
 * Identity: who certops is when it calls Azure, and who it is in a client's tenant.
 *
 * - platform(): the Function App's managed identity (system-assigned), for the MSP's own Cosmos
 *   DB, Service Bus and Key Vault. Data-plane RBAC only: no keys, no connection strings.
 * - forClientTenant(entraTenantId): the MSP's multi-tenant app registration acting in a client's
 *   tenant (consented there, or reached through GDAP; Azure resources through Lighthouse use the
 *   platform identity directly). The app has no secret: the managed identity's token for
 *   `api://AzureADTokenExchange` is its client assertion (workload identity federation), so
 *   nothing to leak or rotate. One credential per client tenant, cached.
 *
 * Everything is injected: tests pass their own TokenCredential (never DefaultAzureCredential,
 * which probes a non-loopback address) and an authority host of a local token stub.
 */
import { ClientAssertionCredential, ManagedIdentityCredential, type TokenCredentialOptions } from '@azure/identity';
import type { TokenCredential } from '@azure/core-auth';
import { PermanentError } from '../../domain/errors';

/** The audience a managed identity's token must have to serve as a federated client assertion. */
export const TOKEN_EXCHANGE_SCOPE = 'api://AzureADTokenExchange/.default';

export interface CredentialProvider {
  platform(): TokenCredential;
  forClientTenant(entraTenantId: string): TokenCredential;
}

export interface AzureCredentialOptions {
  /** The platform identity; default: the system-assigned managed identity. */
  platform?: TokenCredential;
  /** The multi-tenant app's client id (CERTOPS_CLIENT_APP_ID); null disables client-tenant calls. */
  clientAppId: string | null;
  /** Entra authority and transport options (a sovereign cloud; a local stub in tests). */
  credentialOptions?: TokenCredentialOptions & { disableInstanceDiscovery?: boolean };
}

const TENANT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export class AzureCredentials implements CredentialProvider {
  private readonly platformCredential: TokenCredential;
  private readonly clients = new Map<string, TokenCredential>();

  constructor(private readonly options: AzureCredentialOptions) {
    this.platformCredential = options.platform ?? new ManagedIdentityCredential();
  }

  platform(): TokenCredential {
    return this.platformCredential;
  }

  forClientTenant(entraTenantId: string): TokenCredential {
    const appId = this.options.clientAppId;
    if (!appId) throw new PermanentError(`no multi-tenant app is configured (CERTOPS_CLIENT_APP_ID); certops cannot act in client tenant ${entraTenantId}`);
    if (!TENANT_ID.test(entraTenantId)) throw new PermanentError(`"${entraTenantId}" is not an Entra tenant id (a GUID); fix the tenant's entraTenantId`);
    let credential = this.clients.get(entraTenantId);
    if (!credential) {
      const assertion = async (): Promise<string> => {
        const token = await this.platformCredential.getToken(TOKEN_EXCHANGE_SCOPE);
        if (!token) throw new PermanentError('the managed identity returned no token for the federated client assertion');
        return token.token;
      };
      credential = new ClientAssertionCredential(entraTenantId, appId, assertion, this.options.credentialOptions);
      this.clients.set(entraTenantId, credential);
    }
    return credential;
  }
}
