/**
 * The API as an Azure Functions HTTP trigger: one catch-all route under /api handed to the same
 * router the embedded server uses. The Functions key is not the authentication (anonymous level):
 * every request carries an Entra ID bearer token, validated by the router.
 */
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { parseJsonBody, type ApiRequest, type ApiResponse } from '../shared/api/router';

export interface HttpFunctionsApp {
  http(
    name: string,
    options: { route: string; methods: Array<'GET' | 'POST'>; authLevel: 'anonymous'; handler: (request: HttpRequest, context: InvocationContext) => Promise<HttpResponseInit> },
  ): void;
}

export function registerApi(app: HttpFunctionsApp, api: () => Promise<(request: ApiRequest) => Promise<ApiResponse>>): void {
  app.http('api', {
    route: 'api/{*path}',
    methods: ['GET', 'POST'],
    authLevel: 'anonymous',
    handler: async (request) => {
      const body = parseJsonBody(await request.text());
      const url = new URL(request.url);
      const answer = await (await api())({
        method: request.method,
        path: url.pathname,
        query: Object.fromEntries(url.searchParams.entries()),
        headers: Object.fromEntries([...request.headers.entries()]),
        body,
      });
      const headers = { 'content-type': 'application/json', 'cache-control': 'no-store', ...answer.headers };
      return answer.text !== undefined ? { status: answer.status, headers, body: answer.text } : { status: answer.status, headers, jsonBody: answer.body };
    },
  });
}
