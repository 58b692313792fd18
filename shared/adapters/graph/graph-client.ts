/**
 * Builds a Microsoft Graph client over an injected TokenCredential (managed identity, workload
 * identity or client certificate in production; a fake in tests). The chain is
 *
 *   AuthenticationHandler (TokenCredentialAuthenticationProvider) → TelemetryHandler → transport
 *
 * deliberately WITHOUT the SDK's RetryHandler: a 429 or 503 becomes a RetryableError and the bus
 * redelivers the notify message later (CONVENTIONS §5). The RetryHandler would instead sleep in
 * the invocation for up to 180 s per attempt, and retry a sendMail after a 504 whose mail may
 * already be on its way. No RedirectHandler either: Graph's sendMail does not redirect.
 *
 * Every request has a deadline (timeoutInMs). The transport is the SDK's fetch handler, or AgentHttpHandler when `fetchOptions.agent` is
 * given (global fetch ignores `agent`). The SDK attaches the bearer token only for Graph hosts and
 * `customHosts`, and only over https: a custom `baseUrl` must be https, and its host is added.
 */
import { AuthenticationHandler, Client, HTTPMessageHandler, TelemetryHandler, type Context, type FetchOptions, type Middleware } from '@microsoft/microsoft-graph-client';
import { TokenCredentialAuthenticationProvider } from '@microsoft/microsoft-graph-client/authProviders/azureTokenCredentials';
import type * as http from 'node:http';
import type { TokenCredential } from '@azure/core-auth';
import { PermanentError } from '../../domain/errors';
import { AgentHttpHandler, DEFAULT_GRAPH_TIMEOUT_MS } from './agent-http-handler';

export const GRAPH_BASE_URL = 'https://graph.microsoft.com';
/** App-only access: the permissions granted to the app registration (Mail.Send, …). */
export const GRAPH_DEFAULT_SCOPES = ['https://graph.microsoft.com/.default'];

export interface GraphClientOptions {
  /** `https://graph.microsoft.com` by default; a national cloud or a local stand-in otherwise. */
  baseUrl?: string;
  credential: TokenCredential;
  scopes?: string[];
  /** Passed to every request; `agent` (an https.Agent trusting a test CA, a proxy agent) is honoured. */
  fetchOptions?: FetchOptions;
  /** Per-request timeout; DEFAULT_GRAPH_TIMEOUT_MS by default. */
  timeoutInMs?: number;
}

export function graphClient(options: GraphClientOptions): Client {
  const baseUrl = options.baseUrl ?? GRAPH_BASE_URL;
  let host: string;
  try {
    const url = new URL(baseUrl);
    if (url.protocol !== 'https:') throw new Error('not https');
    host = url.hostname;
  } catch {
    throw new PermanentError(`the Graph base URL "${baseUrl}" must be an https URL: the Graph client sends its token only over https`);
  }
  const authProvider = new TokenCredentialAuthenticationProvider(options.credential, { scopes: options.scopes ?? GRAPH_DEFAULT_SCOPES });
  const { agent, ...fetchOptions } = options.fetchOptions ?? {};
  const timeoutInMs = options.timeoutInMs ?? DEFAULT_GRAPH_TIMEOUT_MS;
  const transport: Middleware[] = agent ? [new AgentHttpHandler(agent as http.Agent, timeoutInMs)] : [new RequestTimeoutHandler(timeoutInMs), new HTTPMessageHandler()];
  return Client.initWithMiddleware({
    baseUrl,
    customHosts: host === new URL(GRAPH_BASE_URL).hostname ? undefined : new Set([host]),
    middleware: [new AuthenticationHandler(authProvider), new TelemetryHandler(), ...transport],
    fetchOptions,
  });
}

/** Gives each request its own deadline (a signal in the shared fetchOptions would expire once for all). */
class RequestTimeoutHandler implements Middleware {
  private next?: Middleware;

  constructor(private readonly timeoutInMs: number) {}

  async execute(context: Context): Promise<void> {
    context.options = { ...context.options, signal: AbortSignal.timeout(this.timeoutInMs) };
    if (!this.next) throw new Error('RequestTimeoutHandler must not be the last middleware');
    await this.next.execute(context);
  }

  setNext(next: Middleware): void {
    this.next = next;
  }
}
