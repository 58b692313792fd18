/**
 * The API's dependencies from the configuration: the token verifier (Entra ID, or the local key
 * that `certops token` signs with) and where approved requests and override outcomes are
 * published (the runtime's bus).
 */
import type { ApiOptions } from '../config/model';
import type { CloudEvent } from '../domain/events';
import { publishEvents } from '../pipeline/embedded-pipeline';
import type { PipelineDeps } from '../pipeline/stage';
import type { EventBus } from '../ports/event-bus';
import { entraTokenVerifier, loadOrCreateLocalSigningKey, localTokenVerifier, type TokenVerifier } from './auth';
import { createApi, type ApiRequest, type ApiResponse } from './router';

export function verifierFor(api: ApiOptions | undefined, dataDir: string, clock?: PipelineDeps['clock']): TokenVerifier {
  const auth = api?.auth ?? { mode: 'local' as const };
  if (auth.mode === 'entra') return entraTokenVerifier({ tenantId: auth.tenantId, audience: auth.audience, clock });
  return localTokenVerifier({ key: loadOrCreateLocalSigningKey(dataDir).publicJwk, clock });
}

export function apiFor(
  runtime: { deps: PipelineDeps; bus: EventBus; config: { api?: ApiOptions; dataDir: string } },
  options: { verifier?: TokenVerifier; afterPublish?: () => Promise<void> } = {},
): (request: ApiRequest) => Promise<ApiResponse> {
  return createApi({
    deps: runtime.deps,
    verifier: options.verifier ?? verifierFor(runtime.config.api, runtime.config.dataDir),
    publish: async (events: CloudEvent[]) => {
      await publishEvents(runtime.bus, events);
      await options.afterPublish?.();
    },
  });
}
