/**
 * The last middleware of a Graph client chain, sending over node:http(s) with an `agent`.
 *
 * Why it exists: the SDK's HTTPMessageHandler calls the global fetch, which on Node 20 is undici
 * and silently ignores `fetchOptions.agent` (the SDK documents `agent` from its node-fetch days).
 * A test CA (or a corporate proxy agent) therefore needs this handler. It does only transport:
 * no retry, no redirect.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import type { Context, Middleware } from '@microsoft/microsoft-graph-client';

/** Graph answers sendMail within seconds; a request hanging this long is a failure to retry. */
export const DEFAULT_GRAPH_TIMEOUT_MS = 30_000;

/** Statuses whose response has no body (the Response constructor refuses one). */
const NULL_BODY_STATUSES = new Set([101, 204, 205, 304]);

export class AgentHttpHandler implements Middleware {
  constructor(
    private readonly agent: http.Agent,
    private readonly timeoutMs: number = DEFAULT_GRAPH_TIMEOUT_MS,
  ) {}

  async execute(context: Context): Promise<void> {
    const request = context.request;
    const url = new URL(typeof request === 'string' ? request : request.url);
    const options = context.options ?? {};
    const headers: Record<string, string> = {};
    new Headers((options.headers ?? (typeof request === 'string' ? undefined : request.headers)) as ConstructorParameters<typeof Headers>[0]).forEach((value, name) => {
      headers[name] = value;
    });
    const body = options.body as string | Buffer | undefined | null;
    if (body !== undefined && body !== null && typeof body !== 'string' && !Buffer.isBuffer(body)) {
      throw new TypeError('AgentHttpHandler sends string or Buffer bodies only');
    }
    if (body !== undefined && body !== null) headers['content-length'] = String(Buffer.byteLength(body));

    context.response = await new Promise<Response>((resolve, reject) => {
      const transport = url.protocol === 'https:' ? https : http;
      const req = transport.request(url, { method: options.method ?? 'GET', headers, agent: this.agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const status = res.statusCode ?? 500;
          const responseHeaders = new Headers();
          for (const [name, value] of Object.entries(res.headers)) {
            if (value === undefined) continue;
            for (const v of Array.isArray(value) ? value : [value]) responseHeaders.append(name, v);
          }
          resolve(new Response(NULL_BODY_STATUSES.has(status) ? null : Buffer.concat(chunks), { status, statusText: res.statusMessage, headers: responseHeaders }));
        });
      });
      req.setTimeout(this.timeoutMs, () => req.destroy(new Error(`no answer within ${this.timeoutMs} ms`)));
      req.on('error', reject);
      req.end(body ?? undefined);
    });
  }
}
