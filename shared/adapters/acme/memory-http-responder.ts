/**
 * MemoryHttpResponder: an HTTP server on a chosen port that answers
 * `GET /.well-known/acme-challenge/<token>` with the key authorization held in memory
 * (RFC 8555 §8.3). It stands in for a webroot in tests and on hosts where certops itself
 * listens on port 80. Every other path answers 404.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { HttpChallengeResponder } from '../../ports/http-challenge-responder';

const CHALLENGE_PREFIX = '/.well-known/acme-challenge/';

export class MemoryHttpResponder implements HttpChallengeResponder {
  private readonly tokens = new Map<string, string>();
  private server?: http.Server;

  constructor(private readonly options: { port: number; host?: string }) {}

  /** Starts listening; resolves with the bound port (useful with port 0). */
  async listen(): Promise<number> {
    const server = http.createServer((req, res) => {
      const path = (req.url ?? '').split('?')[0];
      const answer = req.method === 'GET' && path.startsWith(CHALLENGE_PREFIX) ? this.tokens.get(path.slice(CHALLENGE_PREFIX.length)) : undefined;
      if (answer === undefined) {
        res.writeHead(404).end();
        return;
      }
      // RFC 8555 §8.3: the body is the key authorization; `application/octet-stream` is what the RFC's example uses.
      res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(answer);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port, this.options.host ?? '127.0.0.1', () => resolve());
    });
    this.server = server;
    return (server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  async present(token: string, keyAuthorization: string, options: { abortSignal?: AbortSignal } = {}): Promise<void> {
    options.abortSignal?.throwIfAborted();
    this.tokens.set(token, keyAuthorization);
  }

  async cleanup(token: string, options: { abortSignal?: AbortSignal } = {}): Promise<void> {
    options.abortSignal?.throwIfAborted();
    this.tokens.delete(token);
  }

  /** Number of tokens currently served (lets tests prove cleanup happened). */
  get presentedCount(): number {
    return this.tokens.size;
  }
}
