/**
 * A stand-in for a Teams Workflows HTTP trigger ("When a Teams webhook request is received") on
 * 127.0.0.1, port 0: records every request (path, query, headers, parsed JSON body) and answers
 * 202 Accepted as Workflows does once the run is queued, or a chosen status and body.
 *
 * Plain HTTP: the notifier's global fetch cannot be told to trust a test CA on Node 20, and the
 * notifier allows http on loopback only.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedPost {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: http.IncomingHttpHeaders;
  body: string;
  json: unknown;
}

export interface Answer {
  status: number;
  body?: string;
  headers?: Record<string, string>;
  /** Never answer (to test the sender's timeout). */
  hang?: boolean;
}

export interface TeamsWorkflowReceiver {
  /** A URL shaped like a real trigger URL, signature included. */
  url: string;
  /** The `sig` in `url`: what must never appear in a log or an error. */
  sig: string;
  received: ReceivedPost[];
  /** Every later request gets this answer (202 until told otherwise). */
  answer(answer: Answer): void;
  close(): Promise<void>;
}

export async function startTeamsWorkflowReceiver(initial: Answer = { status: 202 }): Promise<TeamsWorkflowReceiver> {
  const received: ReceivedPost[] = [];
  let current = initial;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const body = Buffer.concat(chunks).toString('utf8');
      let json: unknown;
      try {
        json = JSON.parse(body);
      } catch {
        json = undefined;
      }
      received.push({ method: req.method ?? '', path: url.pathname, query: url.searchParams, headers: req.headers, body, json });
      if (current.hang) return;
      res.writeHead(current.status, { 'content-type': 'application/json', ...current.headers }).end(current.body ?? '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const sig = 'Zm9vYmFyc2lnbmF0dXJlLXRlc3Qtb25seQ0123456789';
  return {
    url: `http://127.0.0.1:${port}/workflows/6f1c2a/triggers/manual/paths/invoke?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=${sig}`,
    sig,
    received,
    answer: (answer) => {
      current = answer;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
