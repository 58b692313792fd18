/**
 * Pulumi entry point (`pulumi up` in infra/): reads the stack configuration and builds the install.
 *
 *   pulumi config set azure-native:location westeurope     # or certops:location
 *   pulumi config set certops:namePrefix contoso
 *   pulumi config set --path certops:tags.owner msp-ops
 *   pulumi config set --path certops:cosmosKey.keySize 4096
 *   pulumi config set certops:auditHeadsRetentionDays 400
 */
import * as pulumi from '@pulumi/pulumi';
import { certopsStack } from './certops-stack';
import { CosmosKeyOptions } from './key-vault';

const config = new pulumi.Config('certops');
const location = config.get('location') ?? new pulumi.Config('azure-native').require('location');

const stack = certopsStack({
  location,
  namePrefix: config.get('namePrefix') ?? 'certops',
  tags: config.getObject<Record<string, string>>('tags'),
  resourceGroupName: config.get('resourceGroupName'),
  cosmosKey: config.getObject<CosmosKeyOptions>('cosmosKey'),
  configFile: config.get('configFile'),
  clientAppId: config.get('clientAppId'),
  logLevel: config.get('logLevel'),
  sweepSchedule: config.get('sweepSchedule'),
  auditHeadsRetentionDays: config.getNumber('auditHeadsRetentionDays'),
});

export const resourceGroupName = stack.resourceGroup.name;
export const functionAppName = stack.functionApp.app.name;
export const functionAppPrincipalId = stack.functionApp.principalId;
export const serviceBusNamespace = stack.serviceBus.fullyQualifiedNamespace;
export const cosmosEndpoint = stack.cosmos.account.documentEndpoint;
export const keyVaultUrl = stack.keyVault.vault.properties.vaultUri;
export const deploymentContainerUrl = stack.functionApp.app.functionAppConfig.apply((c) => c?.deployment?.storage?.value);
export const auditHeadsContainer = stack.auditHeads.container.name;
export const auditHeadSigningKeyId = stack.auditHeads.signingKey.keyUri;
