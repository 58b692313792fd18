/**
 * The certops Azure install, as one function: everything the Function App needs, wired with managed
 * identities and no stored credentials. `index.ts` (the Pulumi entry) reads config and calls it;
 * tests call it under `pulumi.runtime.setMocks` and inspect what it returns.
 */
import * as pulumi from '@pulumi/pulumi';
import * as authorization from '@pulumi/azure-native/authorization';
import * as resources from '@pulumi/azure-native/resources';
import { FunctionAppAccess, functionAppAccess } from './access';
import { AuditHeads, auditHeads } from './audit-heads';
import { Cosmos, cosmos } from './cosmos';
import { FunctionApp, functionApp, functionAppSettings } from './function-app';
import { CosmosKeyOptions, Vault, keyVault } from './key-vault';
import { Monitoring, monitoring } from './monitoring';
import { ResourceNames, resourceNames, uniqueSuffix, validatePrefix } from './naming';
import { ServiceBus, serviceBus } from './service-bus';

export interface CertopsStackArgs {
  /** Azure region of every resource, e.g. `westeurope` (Flex Consumption is not offered everywhere). */
  location: string;
  /** 2–10 lowercase letters, digits or hyphens; starts every resource name. */
  namePrefix: string;
  tags?: Record<string, string>;
  /** Default `rg-<namePrefix>`. */
  resourceGroupName?: string;
  cosmosKey?: CosmosKeyOptions;
  /** `CERTOPS_CONFIG`, relative to the deployed package; unset: the app's default (`certops.yaml`). */
  configFile?: string;
  /** `CERTOPS_CLIENT_APP_ID`: the MSP's multi-tenant app registration for client-tenant calls. */
  clientAppId?: string;
  /** `CERTOPS_LOG_LEVEL`; unset: the app's default. */
  logLevel?: string;
  /** `CERTOPS_SWEEP_SCHEDULE` (NCRONTAB, six fields); unset: the topology's default. */
  sweepSchedule?: string;
  /** Days each signed audit head stays undeletable in the `audit-heads` container (default 400). */
  auditHeadsRetentionDays?: number;
}

export interface CertopsStack {
  resourceGroup: resources.ResourceGroup;
  names: pulumi.Output<ResourceNames>;
  monitoring: Monitoring;
  keyVault: Vault;
  cosmos: Cosmos;
  serviceBus: ServiceBus;
  functionApp: FunctionApp;
  /** The immutable container of the signed audit heads, and their signing key. */
  auditHeads: AuditHeads;
  access: FunctionAppAccess;
  /** The app settings given to the Function App, by name. */
  appSettings: Record<string, pulumi.Input<string>>;
}

export function certopsStack(args: CertopsStackArgs): CertopsStack {
  validatePrefix(args.namePrefix);
  const tags = args.tags ?? {};
  const client = authorization.getClientConfigOutput();
  const rgName = args.resourceGroupName ?? `rg-${args.namePrefix}`;
  const names = client.apply((c) => resourceNames(args.namePrefix, rgName, uniqueSuffix(c.subscriptionId, rgName)));

  const resourceGroup = new resources.ResourceGroup('rg', { resourceGroupName: rgName, location: args.location, tags });
  const opts: pulumi.CustomResourceOptions = { parent: resourceGroup };
  const common = { resourceGroupName: resourceGroup.name, location: args.location, tags };

  const mon = monitoring({ ...common, workspaceName: names.logAnalytics, appInsightsName: names.appInsights }, opts);
  const vault = keyVault(
    {
      ...common,
      vaultName: names.keyVault,
      keyName: names.cosmosKey,
      identityName: names.cosmosKeyIdentity,
      tenantId: client.tenantId,
      subscriptionId: client.subscriptionId,
      cosmosKey: args.cosmosKey ?? {},
    },
    opts,
  );
  const db = cosmos(
    {
      ...common,
      accountName: names.cosmosAccount,
      keyVaultKeyUri: vault.cosmosKey.keyUri,
      keyIdentityId: vault.cosmosKeyIdentity.id,
      keyAccess: vault.cosmosKeyAccess,
    },
    opts,
  );
  const bus = serviceBus({ ...common, namespaceName: names.serviceBusNamespace }, opts);
  const appSettings = functionAppSettings({
    storageAccountName: names.storageAccount,
    serviceBusFullyQualifiedNamespace: bus.fullyQualifiedNamespace,
    cosmosEndpoint: db.account.documentEndpoint,
    cosmosDatabase: db.database.name,
    keyVaultUrl: vault.vault.properties.vaultUri.apply((uri) => uri ?? ''),
    appInsightsConnectionString: mon.appInsights.connectionString,
    configFile: args.configFile,
    logLevel: args.logLevel,
    sweepSchedule: args.sweepSchedule,
    clientAppId: args.clientAppId,
  });
  const func = functionApp(
    {
      ...common,
      storageAccountName: names.storageAccount,
      deploymentContainerName: names.deploymentContainer,
      planName: names.functionPlan,
      appName: names.functionApp,
      settings: appSettings,
    },
    opts,
  );
  const heads = auditHeads(
    {
      resourceGroupName: resourceGroup.name,
      storageAccountName: func.storageAccount.name,
      vaultName: vault.vault.name,
      retentionDays: args.auditHeadsRetentionDays,
      tags,
    },
    opts,
  );
  const access = functionAppAccess(
    {
      principalId: func.principalId,
      subscriptionId: client.subscriptionId,
      resourceGroupName: resourceGroup.name,
      storageAccountId: func.storageAccount.id,
      serviceBusNamespaceId: bus.namespace.id,
      keyVaultId: vault.vault.id,
      auditHeadKeyId: heads.signingKey.id,
      appInsightsId: mon.appInsights.id,
      cosmosAccountId: db.account.id,
      cosmosAccountName: db.account.name,
      cosmosDatabaseName: db.database.name,
    },
    opts,
  );
  return { resourceGroup, names, monitoring: mon, keyVault: vault, cosmos: db, serviceBus: bus, functionApp: func, auditHeads: heads, access, appSettings };
}
