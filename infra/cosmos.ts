/**
 * Cosmos DB (NoSQL API): the account, the database and the containers of layout.ts, all partitioned
 * by tenant. Encrypted with the customer-managed key (read through a user-assigned identity), and
 * with local (key) authentication disabled so that only Entra data-plane RBAC opens it.
 */
import * as pulumi from '@pulumi/pulumi';
import * as cosmosdb from '@pulumi/azure-native/cosmosdb';
import { COSMOS_CONTAINERS, COSMOS_DATABASE, COSMOS_PARTITION_KEY_PATH } from '../shared/adapters/azure/layout';

export interface CosmosArgs {
  resourceGroupName: pulumi.Input<string>;
  location: pulumi.Input<string>;
  accountName: pulumi.Input<string>;
  /** Versionless key URI: Cosmos DB then follows new key versions (rotation). */
  keyVaultKeyUri: pulumi.Input<string>;
  /** ARM id of the user-assigned identity holding Key Vault Crypto Service Encryption User on the key. */
  keyIdentityId: pulumi.Input<string>;
  /**
   * The key access role assignment: Cosmos DB checks the key when the account is created and fails
   * if its identity cannot unwrap yet.
   */
  keyAccess: pulumi.Resource;
  tags: Record<string, string>;
}

export interface Cosmos {
  account: cosmosdb.DatabaseAccount;
  database: cosmosdb.SqlResourceSqlDatabase;
  /** By layout name (`state`, `audit`). */
  containers: Record<keyof typeof COSMOS_CONTAINERS, cosmosdb.SqlResourceSqlContainer>;
}

export function cosmos(args: CosmosArgs, opts: pulumi.CustomResourceOptions): Cosmos {
  const account = new cosmosdb.DatabaseAccount(
    'cosmos',
    {
      resourceGroupName: args.resourceGroupName,
      location: args.location,
      accountName: args.accountName,
      kind: 'GlobalDocumentDB',
      databaseAccountOfferType: 'Standard',
      // Serverless: an MSP's sweep is bursty (daily, minutes long); provisioned throughput would idle.
      capabilities: [{ name: 'EnableServerless' }],
      locations: [{ locationName: args.location, failoverPriority: 0, isZoneRedundant: false }],
      consistencyPolicy: { defaultConsistencyLevel: 'Session' },
      identity: { type: 'UserAssigned', userAssignedIdentities: [args.keyIdentityId] },
      defaultIdentity: pulumi.interpolate`UserAssignedIdentity=${args.keyIdentityId}`,
      keyVaultKeyUri: args.keyVaultKeyUri,
      disableLocalAuth: true,
      // Keys are off anyway; this also stops any key-authenticated client from changing containers.
      disableKeyBasedMetadataWriteAccess: true,
      minimalTlsVersion: 'Tls12',
      tags: args.tags,
    },
    { ...opts, dependsOn: [args.keyAccess] },
  );
  const database = new cosmosdb.SqlResourceSqlDatabase(
    'cosmos-db',
    {
      resourceGroupName: args.resourceGroupName,
      accountName: account.name,
      databaseName: COSMOS_DATABASE,
      resource: { id: COSMOS_DATABASE },
      tags: args.tags,
    },
    opts,
  );
  const container = (name: string) =>
    new cosmosdb.SqlResourceSqlContainer(
      `cosmos-container-${name}`,
      {
        resourceGroupName: args.resourceGroupName,
        accountName: account.name,
        databaseName: database.name,
        containerName: name,
        resource: {
          id: name,
          // Hash v2: tenant ids may be longer than 100 bytes.
          partitionKey: { paths: [COSMOS_PARTITION_KEY_PATH], kind: 'Hash', version: 2 },
        },
        tags: args.tags,
      },
      opts,
    );
  return {
    account,
    database,
    containers: { state: container(COSMOS_CONTAINERS.state), audit: container(COSMOS_CONTAINERS.audit) },
  };
}
