/**
 * Azure Functions entry point (v4 programming model; package.json "main" points at its build).
 * CERTOPS_RUNTIME picks what runs behind the triggers:
 * - azure: the Azure composition (Cosmos DB, Service Bus, Key Vault through the Function App's
 *   managed identity); the host runs every trigger, stages publish to Service Bus;
 * - embedded (default, for a developer's machine): the embedded runtime configured by
 *   CERTOPS_CONFIG, whose bus workers carry a triggered stage's output through the next stages.
 */
import { app } from '@azure/functions';
import { AzureCredentials } from '../shared/adapters/azure/identity';
import { loadConfig } from '../shared/config/load-config';
import { readSettings } from '../shared/config/settings';
import { createAzureRuntime } from '../shared/composition-azure';
import { createEmbeddedRuntime } from '../shared/composition-root';
import { createLogger } from '../shared/observability/logger';
import { registerStages, type FunctionsRuntime } from './register';
import { registerApi } from './http';
import { apiFor } from '../shared/api/compose';
import type { CertopsConfig } from '../shared/config/model';

const settings = readSettings(process.env);
type Started = FunctionsRuntime & { config: CertopsConfig; close(): Promise<void> };
let runtime: Promise<Started> | null = null;

async function start(): Promise<Started> {
  const logger = createLogger({ level: settings.logLevel });
  const config = loadConfig(settings.configFile);
  if (settings.runtime === 'azure' && settings.azure) {
    return createAzureRuntime(config, settings.azure, { credentials: new AzureCredentials({ clientAppId: settings.azure.clientAppId }), logger });
  }
  const embedded = createEmbeddedRuntime(config, { logger });
  embedded.pipeline.start();
  return { config, deps: embedded.deps, bus: embedded.bus, close: embedded.close };
}

function started(): Promise<Started> {
  runtime ??= start().catch((err: unknown) => {
    runtime = null; // a failed start (bad config, missing secret) is retried on the next invocation
    throw err;
  });
  return runtime;
}

registerStages(app, { connection: settings.serviceBusConnectionSetting, env: process.env, runtime: started });

let api: ReturnType<typeof apiFor> | null = null;
registerApi(app, async () => {
  const current = await started();
  if (settings.runtime === 'azure' && current.config.api?.auth.mode !== 'entra') {
    throw new Error('on Azure the API takes Entra ID tokens only: set api.auth to { mode: entra, tenantId, audience } in the configuration');
  }
  api ??= apiFor(current);
  return api;
});

// The host stops the worker: settle in-flight messages and close what the runtime holds.
app.hook.appTerminate(async () => {
  const current = runtime;
  runtime = null;
  await (await current?.catch(() => null))?.close();
});
