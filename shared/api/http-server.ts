/**
 * The API on one machine: a node:http server in front of the transport-agnostic router. Bodies
 * are JSON, at most 64 KiB; answers are JSON. Bind it to loopback unless a reverse proxy with TLS
 * stands in front (tokens travel in the Authorization header).
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseJsonBody, type ApiRequest, type ApiResponse } from './router';

const MAX_BODY_BYTES = 64 * 1024;

export interface ApiServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

export async function startApiServer(handle: (request: ApiRequest) => Promise<ApiResponse>, options: { port?: number; host?: string } = {}): Promise<ApiServer> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        res.writeHead(413, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'too-large', message: `bodies are limited to ${MAX_BODY_BYTES} bytes` }));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (res.writableEnded) return;
      const body = parseJsonBody(Buffer.concat(chunks).toString('utf8'));
      const url = new URL(req.url ?? '/', 'http://localhost');
      const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : v]));
      const query = Object.fromEntries(url.searchParams.entries());
      void handle({ method: req.method ?? 'GET', path: url.pathname, query, headers, body }).then(
        (answer) => {
          res.writeHead(answer.status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...answer.headers });
          res.end(answer.text ?? JSON.stringify(answer.body));
        },
        () => {
          res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'internal' }));
        },
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${options.host ?? '127.0.0.1'}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
