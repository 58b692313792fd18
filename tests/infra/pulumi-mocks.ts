/**
 * A recording Pulumi mock for azure-native programs: every registered resource is kept with its
 * resolved inputs and the id the mock gave it; outputs Azure would compute (principal ids,
 * endpoints, the Key Vault URI…) are filled in with recognisable fakes.
 */
import * as pulumi from '@pulumi/pulumi';

export interface Registered {
  /** Pulumi type token, e.g. `azure-native:servicebus:Topic`. */
  type: string;
  /** Pulumi logical name. */
  logicalName: string;
  /** The Azure name, from the resource's name input. */
  name: string;
  id: string;
  inputs: Record<string, any>;
}

export const FAKE = {
  subscriptionId: '11111111-1111-1111-1111-111111111111',
  tenantId: '22222222-2222-2222-2222-222222222222',
  functionPrincipalId: 'principal-of-the-function-app',
  cosmosKeyPrincipalId: 'principal-of-the-cosmos-key-identity',
  appInsightsConnectionString:
    'InstrumentationKey=33333333-3333-3333-3333-333333333333;IngestionEndpoint=https://westeurope-5.in.applicationinsights.azure.com/;LiveEndpoint=https://westeurope.livediagnostics.monitor.azure.com/',
} as const;

/** Which input holds each resource type's Azure name. */
const NAME_INPUT: Record<string, string> = {
  ResourceGroup: 'resourceGroupName',
  Workspace: 'workspaceName',
  Component: 'resourceName',
  Vault: 'vaultName',
  Key: 'keyName',
  UserAssignedIdentity: 'resourceName',
  DatabaseAccount: 'accountName',
  SqlResourceSqlDatabase: 'databaseName',
  SqlResourceSqlContainer: 'containerName',
  SqlResourceSqlRoleAssignment: 'roleAssignmentId',
  Namespace: 'namespaceName',
  Topic: 'topicName',
  Subscription: 'subscriptionName',
  StorageAccount: 'accountName',
  BlobContainer: 'containerName',
  AppServicePlan: 'name',
  WebApp: 'name',
  WebAppFtpAllowed: 'name',
  WebAppScmAllowed: 'name',
  RoleAssignment: 'roleAssignmentName',
};

type Computed = (inputs: Record<string, any>, name: string) => Record<string, unknown>;

/** What Azure computes on create, per type. */
const COMPUTED: Record<string, Computed> = {
  'azure-native:web:WebApp': (i) => ({ identity: { ...i.identity, principalId: FAKE.functionPrincipalId, tenantId: FAKE.tenantId } }),
  'azure-native:managedidentity:UserAssignedIdentity': () => ({ principalId: FAKE.cosmosKeyPrincipalId, clientId: 'client-of-the-cosmos-key-identity' }),
  'azure-native:keyvault:Vault': (i, name) => ({ properties: { ...i.properties, vaultUri: `https://${name}.vault.azure.net/` } }),
  'azure-native:keyvault:Key': (i, name) => ({
    keyUri: `https://${i.vaultName}.vault.azure.net/keys/${name}`,
    keyUriWithVersion: `https://${i.vaultName}.vault.azure.net/keys/${name}/0123456789abcdef`,
  }),
  'azure-native:cosmosdb:DatabaseAccount': (_i, name) => ({ documentEndpoint: `https://${name}.documents.azure.com:443/` }),
  'azure-native:servicebus:Namespace': (_i, name) => ({ serviceBusEndpoint: `https://${name}.servicebus.windows.net:443/` }),
  'azure-native:applicationinsights:Component': () => ({ connectionString: FAKE.appInsightsConnectionString }),
  'azure-native:storage:StorageAccount': (_i, name) => ({ primaryEndpoints: { blob: `https://${name}.blob.core.windows.net/` } }),
};

/** Installs the mocks (not a preview: every value is known) and returns the live registry. */
export async function recordingMocks(): Promise<Registered[]> {
  const registered: Registered[] = [];
  await pulumi.runtime.setMocks(
    {
      newResource(args) {
        const short = args.type.split(':')[2];
        const name = String(args.inputs[NAME_INPUT[short]] ?? args.name);
        const id = `/mock/${args.type}/${args.name}`;
        registered.push({ type: args.type, logicalName: args.name, name, id, inputs: args.inputs });
        return { id, state: { ...args.inputs, name, ...COMPUTED[args.type]?.(args.inputs, name) } };
      },
      call(args) {
        if (args.token === 'azure-native:authorization:getClientConfig') {
          return { subscriptionId: FAKE.subscriptionId, tenantId: FAKE.tenantId, objectId: 'deployer', clientId: 'deployer-app' };
        }
        throw new Error(`unexpected call ${args.token}`);
      },
    },
    'certops',
    'test',
    false,
  );
  return registered;
}

/** Resolves once every CustomResource reachable from `root` has been registered. */
export async function settled(root: unknown): Promise<void> {
  const seen = new Set<unknown>();
  const ids: Array<Promise<unknown>> = [];
  const walk = (x: unknown): void => {
    if (x === null || typeof x !== 'object' || seen.has(x)) return;
    seen.add(x);
    if (pulumi.CustomResource.isInstance(x)) {
      ids.push(new Promise((resolve) => x.id.apply(resolve)));
      return;
    }
    if (pulumi.Output.isInstance(x)) return;
    for (const v of Object.values(x)) walk(v);
  };
  walk(root);
  await Promise.all(ids);
}

/** The resolved value of an Output (mocks are never a preview, so it is known). */
export function valueOf<T>(output: pulumi.Output<T>): Promise<T> {
  return new Promise((resolve) => output.apply(resolve));
}
