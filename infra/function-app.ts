/**
 * The Function App on a Flex Consumption (FC1) plan: Linux, Node 20, system-assigned identity, and
 * its host storage account. Every connection is identity-based: the app settings name endpoints,
 * never keys (the storage account refuses shared keys altogether).
 *
 * Flex Consumption specifics (Microsoft.Web/sites `functionAppConfig`): the runtime is declared in
 * `functionAppConfig.runtime` and the platform rejects `FUNCTIONS_WORKER_RUNTIME`,
 * `FUNCTIONS_EXTENSION_VERSION` and `linuxFxVersion`; the package is deployed to a blob container
 * the app reads with its own identity.
 */
import * as pulumi from '@pulumi/pulumi';
import * as storage from '@pulumi/azure-native/storage';
import * as web from '@pulumi/azure-native/web';
import { SERVICE_BUS_CONNECTION } from '../shared/config/settings';

export interface FunctionAppArgs {
  resourceGroupName: pulumi.Input<string>;
  location: pulumi.Input<string>;
  storageAccountName: pulumi.Input<string>;
  deploymentContainerName: pulumi.Input<string>;
  planName: pulumi.Input<string>;
  appName: pulumi.Input<string>;
  /** Every app setting (see `functionAppSettings`): non-secret values only. */
  settings: Record<string, pulumi.Input<string>>;
  tags: Record<string, string>;
}

export interface FunctionApp {
  storageAccount: storage.StorageAccount;
  deploymentContainer: storage.BlobContainer;
  plan: web.AppServicePlan;
  app: web.WebApp;
  /** Basic-auth publishing disabled (FTP and SCM). */
  ftpBasicAuth: web.WebAppFtpAllowed;
  scmBasicAuth: web.WebAppScmAllowed;
  /** Object id of the app's system-assigned identity. */
  principalId: pulumi.Output<string>;
}

/** Flex Consumption's smallest allowed ceiling; discover runs 64 handshakes per instance, so 40 instances cover thousands of endpoints. */
const MAXIMUM_INSTANCE_COUNT = 40;
/** Flex's default instance size; TLS handshakes and X.509 parsing are CPU-bound, not memory-bound. */
const INSTANCE_MEMORY_MB = 2048;
export const NODE_RUNTIME = { name: 'node', version: '20' } as const;

/** The names and non-secret values the Function App reads, given the endpoints of its dependencies. */
export interface FunctionAppSettingsInput {
  storageAccountName: pulumi.Input<string>;
  serviceBusFullyQualifiedNamespace: pulumi.Input<string>;
  cosmosEndpoint: pulumi.Input<string>;
  cosmosDatabase: pulumi.Input<string>;
  keyVaultUrl: pulumi.Input<string>;
  appInsightsConnectionString: pulumi.Input<string>;
  /** `CERTOPS_CONFIG`: path of the tenants/endpoints/policy file inside the deployed package. */
  configFile?: string;
  logLevel?: string;
  sweepSchedule?: string;
  /** `CERTOPS_CLIENT_APP_ID`: the MSP's multi-tenant app registration (an id, not a secret). */
  clientAppId?: string;
}

/**
 * The complete app settings, as shared/config/settings.ts reads them with `CERTOPS_RUNTIME=azure`.
 * Identity-based connections (the Functions "connection prefix" convention: `<prefix>__accountName`,
 * `<prefix>__fullyQualifiedNamespace`): with no `__credential`, the host uses the system-assigned
 * identity. `APPLICATIONINSIGHTS_CONNECTION_STRING` is no secret (ingestion endpoint and
 * instrumentation key id); `Authorization=AAD` makes the agent send Entra tokens, the only thing the
 * component accepts (its local auth is disabled). `CERTOPS_MASTER_KEY` is never set: it is the
 * embedded runtime's SQLite key; in Azure, Key Vault holds the keys.
 */
export function functionAppSettings(input: FunctionAppSettingsInput): Record<string, pulumi.Input<string>> {
  const settings: Record<string, pulumi.Input<string>> = {
    AzureWebJobsStorage__accountName: input.storageAccountName,
    CERTOPS_RUNTIME: 'azure',
    [`${SERVICE_BUS_CONNECTION}__fullyQualifiedNamespace`]: input.serviceBusFullyQualifiedNamespace,
    CERTOPS_COSMOS_ENDPOINT: input.cosmosEndpoint,
    CERTOPS_COSMOS_DATABASE: input.cosmosDatabase,
    CERTOPS_KEY_VAULT_URL: input.keyVaultUrl,
    APPLICATIONINSIGHTS_CONNECTION_STRING: input.appInsightsConnectionString,
    APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'Authorization=AAD',
  };
  if (input.configFile) settings.CERTOPS_CONFIG = input.configFile;
  if (input.logLevel) settings.CERTOPS_LOG_LEVEL = input.logLevel;
  if (input.sweepSchedule) settings.CERTOPS_SWEEP_SCHEDULE = input.sweepSchedule;
  if (input.clientAppId) settings.CERTOPS_CLIENT_APP_ID = input.clientAppId;
  return settings;
}

export function functionApp(args: FunctionAppArgs, opts: pulumi.CustomResourceOptions): FunctionApp {
  const storageAccount = new storage.StorageAccount(
    'st',
    {
      resourceGroupName: args.resourceGroupName,
      location: args.location,
      accountName: args.storageAccountName,
      kind: 'StorageV2',
      sku: { name: 'Standard_LRS' },
      allowSharedKeyAccess: false,
      defaultToOAuthAuthentication: true,
      allowBlobPublicAccess: false,
      allowCrossTenantReplication: false,
      enableHttpsTrafficOnly: true,
      minimumTlsVersion: 'TLS1_2',
      tags: args.tags,
    },
    opts,
  );
  const deploymentContainer = new storage.BlobContainer(
    'st-app-package',
    {
      resourceGroupName: args.resourceGroupName,
      accountName: storageAccount.name,
      containerName: args.deploymentContainerName,
      publicAccess: 'None',
    },
    opts,
  );
  const plan = new web.AppServicePlan(
    'plan',
    {
      resourceGroupName: args.resourceGroupName,
      location: args.location,
      name: args.planName,
      kind: 'functionapp',
      sku: { name: 'FC1', tier: 'FlexConsumption' },
      reserved: true, // Linux
      tags: args.tags,
    },
    opts,
  );
  const app = new web.WebApp(
    'func',
    {
      resourceGroupName: args.resourceGroupName,
      location: args.location,
      name: args.appName,
      kind: 'functionapp,linux',
      serverFarmId: plan.id,
      identity: { type: 'SystemAssigned' },
      httpsOnly: true,
      siteConfig: {
        appSettings: Object.entries(args.settings).map(([name, value]) => ({ name, value })),
        minTlsVersion: '1.2',
        ftpsState: 'Disabled',
        http20Enabled: true,
      },
      functionAppConfig: {
        runtime: { name: NODE_RUNTIME.name, version: NODE_RUNTIME.version },
        deployment: {
          storage: {
            type: 'blobContainer',
            value: pulumi.interpolate`${storageAccount.primaryEndpoints.blob}${deploymentContainer.name}`,
            authentication: { type: 'SystemAssignedIdentity' },
          },
        },
        scaleAndConcurrency: { maximumInstanceCount: MAXIMUM_INSTANCE_COUNT, instanceMemoryMB: INSTANCE_MEMORY_MB },
      },
      tags: args.tags,
    },
    opts,
  );
  // Publishing with user/password (basic auth) off: deployments authenticate with Entra.
  const basicAuth = { resourceGroupName: args.resourceGroupName, name: app.name, allow: false };
  const ftpBasicAuth = new web.WebAppFtpAllowed('func-ftp-basic-auth', basicAuth, opts);
  const scmBasicAuth = new web.WebAppScmAllowed('func-scm-basic-auth', basicAuth, opts);
  const principalId = app.identity.apply((identity) => {
    if (!identity?.principalId) throw new Error('the Function App has no system-assigned identity');
    return identity.principalId;
  });
  return { storageAccount, deploymentContainer, plan, app, ftpBasicAuth, scmBasicAuth, principalId };
}
