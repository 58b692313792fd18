/**
 * What the Function App's identity may do: the least-privilege data-plane roles, each on the
 * narrowest scope that still lets the pipeline work. The whole matrix is this one file.
 *
 * | Role                                  | Scope                 | Why                                                      |
 * |---------------------------------------|-----------------------|----------------------------------------------------------|
 * | Storage Blob Data Owner               | host storage account  | host keys, timer singleton leases, Flex package download |
 * | Azure Service Bus Data Sender         | namespace             | stages emit to every topic and the dead-letter topic     |
 * | Azure Service Bus Data Receiver       | namespace             | one trigger per (topic, stage) subscription              |
 * | Cosmos DB Built-in Data Contributor   | database `certops`    | certificate store, order journal, audit chains           |
 * | Key Vault Secrets Officer             | vault                 | KeyVaultKeyStore secrets, prior certificate versions     |
 * | Key Vault Certificates Officer        | vault                 | import and read the certificates it rotates              |
 * | Key Vault Crypto User                 | key audit-head-signing| sign the audit heads (the key never leaves the vault)    |
 * | Monitoring Metrics Publisher          | Application Insights  | Entra-authenticated telemetry (local auth is off)        |
 *
 * No Queue or Table role: the triggers are timers (blob leases) and Service Bus; queues are used by
 * blob triggers and Durable Functions, tables by Durable Functions, and certops has neither.
 */
import * as pulumi from '@pulumi/pulumi';
import * as authorization from '@pulumi/azure-native/authorization';
import * as cosmosdb from '@pulumi/azure-native/cosmosdb';
import { COSMOS_BUILT_IN_ROLES, RoleGrant, assignRole, deterministicGuid } from './roles';

export interface FunctionAppAccessArgs {
  principalId: pulumi.Input<string>;
  subscriptionId: pulumi.Input<string>;
  resourceGroupName: pulumi.Input<string>;
  storageAccountId: pulumi.Input<string>;
  serviceBusNamespaceId: pulumi.Input<string>;
  keyVaultId: pulumi.Input<string>;
  /** ARM id of the audit head signing key (audit-heads.ts). */
  auditHeadKeyId: pulumi.Input<string>;
  appInsightsId: pulumi.Input<string>;
  cosmosAccountId: pulumi.Input<string>;
  cosmosAccountName: pulumi.Input<string>;
  cosmosDatabaseName: pulumi.Input<string>;
}

export interface FunctionAppAccess {
  /** ARM role assignments by logical name. */
  roleAssignments: Record<string, authorization.RoleAssignment>;
  /** Cosmos DB data-plane role assignment. */
  cosmosData: cosmosdb.SqlResourceSqlRoleAssignment;
}

export function functionAppAccess(args: FunctionAppAccessArgs, opts: pulumi.CustomResourceOptions): FunctionAppAccess {
  const grants: Record<string, Omit<RoleGrant, 'principalId'>> = {
    'func-storage-blob-owner': { role: 'storageBlobDataOwner', scope: args.storageAccountId },
    'func-sb-sender': { role: 'serviceBusDataSender', scope: args.serviceBusNamespaceId },
    'func-sb-receiver': { role: 'serviceBusDataReceiver', scope: args.serviceBusNamespaceId },
    'func-kv-secrets-officer': { role: 'keyVaultSecretsOfficer', scope: args.keyVaultId },
    'func-kv-certificates-officer': { role: 'keyVaultCertificatesOfficer', scope: args.keyVaultId },
    'func-kv-audit-head-signer': { role: 'keyVaultCryptoUser', scope: args.auditHeadKeyId },
    'func-appi-metrics-publisher': { role: 'monitoringMetricsPublisher', scope: args.appInsightsId },
  };
  const roleAssignments: Record<string, authorization.RoleAssignment> = {};
  for (const [name, grant] of Object.entries(grants)) {
    roleAssignments[name] = assignRole(name, { ...grant, principalId: args.principalId }, args.subscriptionId, opts);
  }
  const roleDefinitionId = pulumi.interpolate`${args.cosmosAccountId}/sqlRoleDefinitions/${COSMOS_BUILT_IN_ROLES.dataContributor}`;
  const scope = pulumi.interpolate`${args.cosmosAccountId}/dbs/${args.cosmosDatabaseName}`;
  const cosmosData = new cosmosdb.SqlResourceSqlRoleAssignment(
    'func-cosmos-data-contributor',
    {
      resourceGroupName: args.resourceGroupName,
      accountName: args.cosmosAccountName,
      roleAssignmentId: pulumi
        .all([scope, args.principalId])
        .apply(([s, principal]) => deterministicGuid(s, principal, COSMOS_BUILT_IN_ROLES.dataContributor)),
      roleDefinitionId,
      scope,
      principalId: args.principalId,
    },
    opts,
  );
  return { roleAssignments, cosmosData };
}
