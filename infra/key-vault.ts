/**
 * Key Vault in RBAC mode, the key that encrypts Cosmos DB (customer-managed key), and the
 * user-assigned identity Cosmos DB uses to wrap and unwrap with it.
 *
 * The key is created through ARM (Microsoft.KeyVault/vaults/keys), a control-plane operation: the
 * deployer needs no data-plane role on the vault. Cosmos DB requires soft delete and purge protection
 * on a CMK vault (https://learn.microsoft.com/azure/cosmos-db/how-to-setup-customer-managed-keys).
 */
import * as pulumi from '@pulumi/pulumi';
import * as keyvault from '@pulumi/azure-native/keyvault';
import * as managedidentity from '@pulumi/azure-native/managedidentity';
import * as authorization from '@pulumi/azure-native/authorization';
import { assignRole } from './roles';

/** Options for the Cosmos DB encryption key (Pulumi config `certops:cosmosKey`). */
export interface CosmosKeyOptions {
  /** RSA modulus size; Cosmos DB accepts 2048, 3072 and 4096. Default 3072. */
  keySize?: 2048 | 3072 | 4096;
  /** `RSA-HSM` puts the key in an HSM and needs the Premium vault tier (chosen automatically). Default `RSA`. */
  keyType?: 'RSA' | 'RSA-HSM';
  /**
   * ISO 8601 duration after which Key Vault creates a new key version (e.g. `P1Y`); unset: no
   * automatic rotation. Cosmos DB follows new versions because it is given the versionless key URI.
   * No expiry is ever set: an expired CMK makes the Cosmos account unreadable.
   */
  rotateAfter?: string;
}

export interface KeyVaultArgs {
  resourceGroupName: pulumi.Input<string>;
  location: pulumi.Input<string>;
  vaultName: pulumi.Input<string>;
  keyName: pulumi.Input<string>;
  identityName: pulumi.Input<string>;
  tenantId: pulumi.Input<string>;
  subscriptionId: pulumi.Input<string>;
  cosmosKey: CosmosKeyOptions;
  tags: Record<string, string>;
}

export interface Vault {
  vault: keyvault.Vault;
  cosmosKey: keyvault.Key;
  /** The identity Cosmos DB reads the key with. */
  cosmosKeyIdentity: managedidentity.UserAssignedIdentity;
  /** Key Vault Crypto Service Encryption User for that identity, on the key only. */
  cosmosKeyAccess: authorization.RoleAssignment;
}

/** The longest soft-delete retention: the most time to recover a deleted certificate or key. */
const SOFT_DELETE_RETENTION_IN_DAYS = 90;
export const DEFAULT_COSMOS_KEY_SIZE = 3072;

export function keyVault(args: KeyVaultArgs, opts: pulumi.CustomResourceOptions): Vault {
  const keyType = args.cosmosKey.keyType ?? 'RSA';
  const vault = new keyvault.Vault(
    'kv',
    {
      resourceGroupName: args.resourceGroupName,
      location: args.location,
      vaultName: args.vaultName,
      properties: {
        tenantId: args.tenantId,
        sku: { family: 'A', name: keyType === 'RSA-HSM' ? 'premium' : 'standard' },
        enableRbacAuthorization: true,
        enableSoftDelete: true,
        softDeleteRetentionInDays: SOFT_DELETE_RETENTION_IN_DAYS,
        enablePurgeProtection: true,
        enabledForDeployment: false,
        enabledForDiskEncryption: false,
        enabledForTemplateDeployment: false,
      },
      tags: args.tags,
    },
    opts,
  );
  const cosmosKey = new keyvault.Key(
    'cosmos-cmk',
    {
      resourceGroupName: args.resourceGroupName,
      vaultName: vault.name,
      keyName: args.keyName,
      properties: {
        kty: keyType,
        keySize: args.cosmosKey.keySize ?? DEFAULT_COSMOS_KEY_SIZE,
        // Cosmos DB only wraps and unwraps its data encryption key with it.
        keyOps: ['wrapKey', 'unwrapKey'],
        attributes: { enabled: true },
        rotationPolicy: args.cosmosKey.rotateAfter
          ? { lifetimeActions: [{ trigger: { timeAfterCreate: args.cosmosKey.rotateAfter }, action: { type: 'rotate' } }] }
          : undefined,
      },
      tags: args.tags,
    },
    opts,
  );
  const cosmosKeyIdentity = new managedidentity.UserAssignedIdentity(
    'id-cosmos-cmk',
    { resourceGroupName: args.resourceGroupName, location: args.location, resourceName: args.identityName, tags: args.tags },
    opts,
  );
  const cosmosKeyAccess = assignRole(
    'cosmos-cmk-crypto-user',
    { principalId: cosmosKeyIdentity.principalId, role: 'keyVaultCryptoServiceEncryptionUser', scope: cosmosKey.id },
    args.subscriptionId,
    opts,
  );
  return { vault, cosmosKey, cosmosKeyIdentity, cosmosKeyAccess };
}
