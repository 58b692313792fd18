import type { AccessToken, GetTokenOptions, TokenCredential } from '@azure/core-auth';

/**
 * A TokenCredential that hands out one fixed token and counts how often it was asked: what the
 * Key Vault stub accepts, without DefaultAzureCredential (which probes the instance metadata
 * address off the machine). It records the scopes and tenant the challenge led the SDK to ask for.
 */
export class FakeCredential implements TokenCredential {
  calls = 0;
  readonly requests: Array<{ scopes: string[]; tenantId?: string }> = [];

  constructor(readonly token = 'certops-test-token') {}

  async getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken> {
    this.calls++;
    this.requests.push({ scopes: Array.isArray(scopes) ? scopes : [scopes], tenantId: options?.tenantId });
    return { token: this.token, expiresOnTimestamp: Date.now() + 3_600_000 };
  }
}
