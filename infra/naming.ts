/**
 * Resource names. Storage accounts, key vaults, Cosmos accounts, Service Bus namespaces and
 * Function Apps have globally unique DNS names, so those carry a suffix derived from the
 * subscription and resource group (as Bicep's `uniqueString(resourceGroup().id)`): stable across
 * runs of the same install, distinct between two MSPs using the same prefix.
 */
import { createHash } from 'node:crypto';

/** Lowercase letter first, then letters, digits or single hyphens; 2–10 characters, so every derived name fits its limit. */
const PREFIX = /^[a-z](?:[a-z0-9]|-(?!-)){0,8}[a-z0-9]$/;

export interface ResourceNames {
  resourceGroup: string;
  /** 3–24, lowercase letters and digits only. */
  storageAccount: string;
  /** 3–24, letters, digits, hyphens. */
  keyVault: string;
  cosmosAccount: string;
  serviceBusNamespace: string;
  functionApp: string;
  functionPlan: string;
  logAnalytics: string;
  appInsights: string;
  cosmosKeyIdentity: string;
  cosmosKey: string;
  /** Blob container the Flex Consumption plan deploys the package from. */
  deploymentContainer: string;
}

/** Throws, naming the rule, when the prefix would produce an invalid Azure name. */
export function validatePrefix(prefix: string): void {
  if (!PREFIX.test(prefix)) {
    throw new Error(
      `namePrefix "${prefix}": use 2–10 lowercase letters, digits or single hyphens, starting with a letter and not ending with a hyphen`,
    );
  }
}

/** 8 lowercase hex characters from the subscription and resource group. */
export function uniqueSuffix(subscriptionId: string, resourceGroup: string): string {
  return createHash('sha256').update(`${subscriptionId}/${resourceGroup}`.toLowerCase()).digest('hex').slice(0, 8);
}

export function resourceNames(prefix: string, resourceGroup: string, suffix: string): ResourceNames {
  validatePrefix(prefix);
  return {
    resourceGroup,
    storageAccount: `st${prefix.replace(/-/g, '')}${suffix}`,
    keyVault: `kv-${prefix}-${suffix}`,
    cosmosAccount: `cosmos-${prefix}-${suffix}`,
    serviceBusNamespace: `sb-${prefix}-${suffix}`,
    functionApp: `func-${prefix}-${suffix}`,
    functionPlan: `plan-${prefix}`,
    logAnalytics: `log-${prefix}`,
    appInsights: `appi-${prefix}`,
    cosmosKeyIdentity: `id-${prefix}-cosmos-cmk`,
    cosmosKey: 'cosmos-cmk',
    deploymentContainer: 'app-package',
  };
}
