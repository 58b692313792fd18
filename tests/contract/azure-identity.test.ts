/**
 * The client-tenant identity over the real protocol: @azure/identity's ClientAssertionCredential
 * against a local Entra token endpoint, with the platform identity's token as the federated client
 * assertion (no client secret anywhere). The platform credential is injected (never
 * DefaultAzureCredential, never a managed identity endpoint).
 */
import * as https from 'node:https';
import type { AccessToken, GetTokenOptions, TokenCredential } from '@azure/core-auth';
import type { PipelinePolicy } from '@azure/core-rest-pipeline';
import { AzureCredentials, TOKEN_EXCHANGE_SCOPE } from '../../shared/adapters/azure/identity';
import { PermanentError } from '../../shared/domain/errors';
import { startEntraTokenStub, type EntraTokenStub } from '../support/entra-token-stub';

const APP_ID = '11111111-2222-3333-4444-555555555555';
const CLIENT_A = 'aaaaaaaa-0000-4000-8000-000000000001';
const CLIENT_B = 'bbbbbbbb-0000-4000-8000-000000000002';

class PlatformIdentity implements TokenCredential {
  readonly scopes: string[][] = [];
  async getToken(scopes: string | string[], _options?: GetTokenOptions): Promise<AccessToken> {
    this.scopes.push([scopes].flat());
    return { token: 'managed-identity-assertion', expiresOnTimestamp: Date.now() + 3_600_000 };
  }
}

let stub: EntraTokenStub;
let agent: https.Agent;
beforeAll(async () => {
  stub = await startEntraTokenStub();
  agent = new https.Agent({ ca: stub.caPem });
});
afterAll(async () => {
  agent.destroy();
  await stub.close();
});

function credentials(platform: TokenCredential, clientAppId: string | null = APP_ID): AzureCredentials {
  const trustStub: PipelinePolicy = { name: 'trust-stub', sendRequest: (request, next) => ((request.agent = agent), next(request)) };
  return new AzureCredentials({
    platform,
    clientAppId,
    credentialOptions: { authorityHost: stub.authorityHost, disableInstanceDiscovery: true, additionalPolicies: [{ policy: trustStub, position: 'perCall' }] },
  });
}

it("When certops asks for a token in a client's tenant, then the app authenticates there with the managed identity's token as its assertion", async () => {
  const platform = new PlatformIdentity();
  const token = await credentials(platform).forClientTenant(CLIENT_A).getToken('https://graph.microsoft.com/.default');
  expect(token?.token).toBe(`token:${CLIENT_A}:${APP_ID}:https://graph.microsoft.com/.default`);
  // The assertion is fetched per token request (MSAL asks for it more than once); always for the exchange audience.
  expect(platform.scopes.length).toBeGreaterThan(0);
  expect(new Set(platform.scopes.flat())).toEqual(new Set([TOKEN_EXCHANGE_SCOPE]));
  const sent = stub.requests.at(-1)!;
  expect(sent.tenant).toBe(CLIENT_A);
  expect(sent.form).toMatchObject({
    grant_type: 'client_credentials',
    client_id: APP_ID,
    client_assertion: 'managed-identity-assertion',
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
  });
  expect(sent.form.client_secret).toBeUndefined();
});

it('When two client tenants are called, then each gets its own credential and its own token, and a tenant keeps its credential', async () => {
  const creds = credentials(new PlatformIdentity());
  expect(creds.forClientTenant(CLIENT_A)).toBe(creds.forClientTenant(CLIENT_A));
  expect(creds.forClientTenant(CLIENT_A)).not.toBe(creds.forClientTenant(CLIENT_B));
  const before = stub.requests.length;
  const b = await creds.forClientTenant(CLIENT_B).getToken('https://management.azure.com/.default');
  expect(b?.token).toBe(`token:${CLIENT_B}:${APP_ID}:https://management.azure.com/.default`);
  expect(stub.requests.slice(before).map((r) => r.tenant)).toEqual([CLIENT_B]);
});

it.each([
  ['no multi-tenant app is configured', null, CLIENT_A, /no multi-tenant app is configured/],
  ['the client tenant id is not a GUID', APP_ID, 'contoso.onmicrosoft.com', /is not an Entra tenant id/],
])('When %s, then the call is refused before any request', (_case, appId, tenant, message) => {
  const before = stub.requests.length;
  expect(() => credentials(new PlatformIdentity(), appId).forClientTenant(tenant)).toThrow(PermanentError);
  expect(() => credentials(new PlatformIdentity(), appId).forClientTenant(tenant)).toThrow(message);
  expect(stub.requests.length).toBe(before);
});

it('When the platform identity is asked for, then it is the injected one (tests never reach a managed identity endpoint)', () => {
  const platform = new PlatformIdentity();
  expect(credentials(platform).platform()).toBe(platform);
});
