/**
 * Built-in role definitions and the one way this program grants them.
 *
 * Azure built-in role ids are fixed GUIDs, identical in every tenant and subscription
 * (https://learn.microsoft.com/azure/role-based-access-control/built-in-roles): they are written
 * here once, each named, so a reader can audit the role matrix without looking GUIDs up.
 */
import { createHash } from 'node:crypto';
import * as pulumi from '@pulumi/pulumi';
import * as authorization from '@pulumi/azure-native/authorization';

/** Azure RBAC built-in roles (Microsoft.Authorization/roleDefinitions) this program assigns. */
export const BUILT_IN_ROLES = {
  /** Storage Blob Data Owner: the Functions host creates containers, takes blob leases (timer singleton), writes keys; Flex reads its package. */
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b',
  /** Azure Service Bus Data Sender. */
  serviceBusDataSender: '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39',
  /** Azure Service Bus Data Receiver. */
  serviceBusDataReceiver: '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0',
  /** Key Vault Secrets Officer: every secret action except managing permissions. */
  keyVaultSecretsOfficer: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7',
  /** Key Vault Certificates Officer: every certificate action except managing permissions. */
  keyVaultCertificatesOfficer: 'a4417e6f-fecd-4de8-b567-7b0420556985',
  /** Key Vault Crypto User: get, sign, verify (and other cryptographic operations) with keys; never export or manage them. */
  keyVaultCryptoUser: '12338af0-0e69-4776-bea7-57ae8d297424',
  /** Key Vault Crypto Service Encryption User: get, wrapKey, unwrapKey (what a CMK consumer needs). */
  keyVaultCryptoServiceEncryptionUser: 'e147488a-f6f5-4113-8e2d-b22465e65bf6',
  /** Monitoring Metrics Publisher: Entra-authenticated Application Insights ingestion. */
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb',
} as const;

export type BuiltInRole = keyof typeof BUILT_IN_ROLES;

/**
 * Cosmos DB data-plane roles (Microsoft.DocumentDB/databaseAccounts/sqlRoleDefinitions): not ARM
 * roles; they live inside each account, under `<account id>/sqlRoleDefinitions/<id>`.
 */
export const COSMOS_BUILT_IN_ROLES = {
  /** Cosmos DB Built-in Data Contributor: read, write, query items and read the change feed. */
  dataContributor: '00000000-0000-0000-0000-000000000002',
} as const;

/** `/subscriptions/<sub>/providers/Microsoft.Authorization/roleDefinitions/<guid>`: the form ARM returns (no diff on refresh). */
export function roleDefinitionId(subscriptionId: pulumi.Input<string>, role: BuiltInRole): pulumi.Output<string> {
  return pulumi.interpolate`/subscriptions/${subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${BUILT_IN_ROLES[role]}`;
}

/**
 * A name-based GUID (RFC 9562 §5.5 layout, SHA-1) from its parts, like Bicep's `guid()`: the same
 * scope, principal and role always give the same assignment name, so a re-run adopts nothing twice,
 * and a new principal gives a new name (assignments are immutable; Pulumi replaces them).
 */
export function deterministicGuid(...parts: string[]): string {
  const h = createHash('sha1').update(parts.join('|')).digest();
  h[6] = (h[6] & 0x0f) | 0x50;
  h[8] = (h[8] & 0x3f) | 0x80;
  const hex = h.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

export interface RoleGrant {
  /** Object id of the managed identity receiving the role. */
  principalId: pulumi.Input<string>;
  role: BuiltInRole;
  /** ARM id of the narrowest resource that still lets the holder work. */
  scope: pulumi.Input<string>;
}

/**
 * Assigns a built-in role to a managed identity. `principalType: ServicePrincipal` lets ARM skip the
 * Graph lookup that fails for a just-created identity (replication delay).
 */
export function assignRole(
  name: string,
  grant: RoleGrant,
  subscriptionId: pulumi.Input<string>,
  opts?: pulumi.CustomResourceOptions,
): authorization.RoleAssignment {
  return new authorization.RoleAssignment(
    name,
    {
      roleAssignmentName: pulumi
        .all([grant.scope, grant.principalId])
        .apply(([scope, principal]) => deterministicGuid(scope, principal, BUILT_IN_ROLES[grant.role])),
      principalId: grant.principalId,
      principalType: 'ServicePrincipal',
      roleDefinitionId: roleDefinitionId(subscriptionId, grant.role),
      scope: grant.scope,
    },
    opts,
  );
}
