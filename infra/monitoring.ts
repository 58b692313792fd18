/**
 * Log Analytics workspace and a workspace-based Application Insights component.
 *
 * Local (instrumentation-key) ingestion is disabled: telemetry is accepted only with an Entra token,
 * which the Function App gets from its managed identity (`APPLICATIONINSIGHTS_AUTHENTICATION_STRING`
 * plus the Monitoring Metrics Publisher role). The connection string then holds no credential, only
 * the ingestion endpoint and the component's instrumentation key id.
 */
import * as pulumi from '@pulumi/pulumi';
import * as applicationinsights from '@pulumi/azure-native/applicationinsights';
import * as operationalinsights from '@pulumi/azure-native/operationalinsights';

export interface MonitoringArgs {
  resourceGroupName: pulumi.Input<string>;
  location: pulumi.Input<string>;
  workspaceName: pulumi.Input<string>;
  appInsightsName: pulumi.Input<string>;
  tags: Record<string, string>;
}

export interface Monitoring {
  workspace: operationalinsights.Workspace;
  appInsights: applicationinsights.Component;
}

/** Log retention: the workspace's free tier covers 30 days; audit evidence lives in Cosmos, not here. */
const LOG_RETENTION_IN_DAYS = 30;

export function monitoring(args: MonitoringArgs, opts: pulumi.CustomResourceOptions): Monitoring {
  const workspace = new operationalinsights.Workspace(
    'log',
    {
      resourceGroupName: args.resourceGroupName,
      location: args.location,
      workspaceName: args.workspaceName,
      sku: { name: 'PerGB2018' },
      retentionInDays: LOG_RETENTION_IN_DAYS,
      tags: args.tags,
    },
    opts,
  );
  const appInsights = new applicationinsights.Component(
    'appi',
    {
      resourceGroupName: args.resourceGroupName,
      location: args.location,
      resourceName: args.appInsightsName,
      kind: 'web',
      applicationType: 'web',
      ingestionMode: 'LogAnalytics',
      workspaceResourceId: workspace.id,
      disableLocalAuth: true,
      tags: args.tags,
    },
    opts,
  );
  return { workspace, appInsights };
}
