/**
 * Azure Functions entry point (v4 programming model; package.json "main" points at its build).
 * Until the Azure adapters land (issue 5), the runtime behind the triggers is the embedded one,
 * configured by CERTOPS_CONFIG: what a triggered stage emits goes onto the embedded bus, whose
 * workers (started here) carry it through the following stages in this process.
 */
import { app } from '@azure/functions';
import { loadConfig } from '../shared/config/load-config';
import { readSettings } from '../shared/config/settings';
import { createEmbeddedRuntime } from '../shared/composition-root';
import { createLogger } from '../shared/observability/logger';
import { registerStages, type FunctionsRuntime } from './register';

const settings = readSettings(process.env);
let runtime: Promise<FunctionsRuntime & { close(): Promise<void> }> | null = null;

registerStages(app, {
  connection: settings.serviceBusConnectionSetting,
  env: process.env,
  runtime: () => {
    runtime ??= Promise.resolve()
      .then(() => {
        const embedded = createEmbeddedRuntime(loadConfig(settings.configFile), { logger: createLogger({ level: settings.logLevel }) });
        embedded.pipeline.start();
        return { deps: embedded.deps, bus: embedded.bus, close: embedded.close };
      })
      .catch((err: unknown) => {
        runtime = null; // a failed start (bad config, missing secret) is retried on the next invocation
        throw err;
      });
    return runtime;
  },
});

// The host stops the worker: settle in-flight messages and close the database.
app.hook.appTerminate(async () => {
  const current = runtime;
  runtime = null;
  await (await current?.catch(() => null))?.close();
});
