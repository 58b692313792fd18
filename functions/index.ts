/**
 * Azure Functions entry point (v4 programming model; package.json "main" points at its build).
 * Until the Azure adapters land (issue 5), the runtime behind the triggers is the embedded one,
 * configured by CERTOPS_CONFIG.
 */
import { app } from '@azure/functions';
import { loadConfig } from '../shared/config/load-config';
import { readSettings } from '../shared/config/settings';
import { createEmbeddedRuntime } from '../shared/composition-root';
import { createLogger } from '../shared/observability/logger';
import { registerStages, type FunctionsRuntime } from './register';

const settings = readSettings(process.env);
let runtime: Promise<FunctionsRuntime> | null = null;

registerStages(app, {
  connection: settings.serviceBusConnectionSetting,
  env: process.env,
  runtime: () => {
    runtime ??= Promise.resolve().then(() => {
      const embedded = createEmbeddedRuntime(loadConfig(settings.configFile), { logger: createLogger({ level: settings.logLevel }) });
      return { deps: embedded.deps, bus: embedded.bus };
    });
    return runtime;
  },
});
