/**
 * Where the audit chains' signed heads are kept on Azure, and the key that signs them.
 *
 * - The `audit-heads` blob container in the host storage account, with a time-based immutability
 *   (retention) policy that allows protected append writes: the head log's append blobs
 *   (shared/adapters/azure/blob-audit-head-log.ts) can grow by new blocks, but no block can be
 *   changed and no blob deleted until its retention has run out, by anyone, the Function App's
 *   identity (Storage Blob Data Owner on the account) and the account's owners included.
 *   https://learn.microsoft.com/azure/storage/blobs/immutable-time-based-retention-policy-overview
 * - The `audit-head-signing` key (EC P-256, operations sign and verify only), created through ARM
 *   like the Cosmos CMK, so the deployer needs no data-plane role; the Function App's identity
 *   gets Key Vault Crypto User on this key alone (access.ts): it can sign with it and read its
 *   public part, never export it.
 *
 * The policy is created UNLOCKED: an unlocked policy can still be shortened or deleted by the
 * subscription's owners (not by the app). Locking it is a one-way step the MSP takes once the
 * install is settled (`az storage container immutability-policy lock`): a locked policy can only
 * be extended, and the storage account cannot be deleted while it protects blobs. The Pulumi
 * resource has no lock operation, and an install that cannot be undone should be a human's choice.
 */
import * as pulumi from '@pulumi/pulumi';
import * as keyvault from '@pulumi/azure-native/keyvault';
import * as storage from '@pulumi/azure-native/storage';
import { AUDIT_HEADS_CONTAINER } from '../shared/adapters/azure/blob-audit-head-log';
import { AUDIT_HEAD_KEY_NAME } from '../shared/adapters/azure/key-vault-head-signer';

/** How long each head stays undeletable: a year and a month, past a yearly audit of the year before. */
export const DEFAULT_AUDIT_HEADS_RETENTION_DAYS = 400;

export interface AuditHeadsArgs {
  resourceGroupName: pulumi.Input<string>;
  storageAccountName: pulumi.Input<string>;
  vaultName: pulumi.Input<string>;
  retentionDays?: number;
  tags: Record<string, string>;
}

export interface AuditHeads {
  container: storage.BlobContainer;
  retention: storage.BlobContainerImmutabilityPolicy;
  signingKey: keyvault.Key;
}

export function auditHeads(args: AuditHeadsArgs, opts: pulumi.CustomResourceOptions): AuditHeads {
  const container = new storage.BlobContainer(
    'st-audit-heads',
    { resourceGroupName: args.resourceGroupName, accountName: args.storageAccountName, containerName: AUDIT_HEADS_CONTAINER, publicAccess: 'None' },
    opts,
  );
  const retention = new storage.BlobContainerImmutabilityPolicy(
    'st-audit-heads-retention',
    {
      resourceGroupName: args.resourceGroupName,
      accountName: args.storageAccountName,
      containerName: container.name,
      immutabilityPolicyName: 'default',
      immutabilityPeriodSinceCreationInDays: args.retentionDays ?? DEFAULT_AUDIT_HEADS_RETENTION_DAYS,
      // Append blobs only (not block blobs): the head log appends blocks, nothing else may be added.
      allowProtectedAppendWrites: true,
    },
    { ...opts, dependsOn: [container] },
  );
  const signingKey = new keyvault.Key(
    'audit-head-signing',
    {
      resourceGroupName: args.resourceGroupName,
      vaultName: args.vaultName,
      keyName: AUDIT_HEAD_KEY_NAME,
      properties: {
        kty: 'EC',
        curveName: 'P-256', // ES256, what KeyVaultHeadSigner asks for
        keyOps: ['sign', 'verify'],
        attributes: { enabled: true },
      },
      tags: args.tags,
    },
    opts,
  );
  return { container, retention, signingKey };
}
