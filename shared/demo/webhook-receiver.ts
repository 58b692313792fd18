/**
 * A webhook receiver for the demo and the tests: checks every request's HMAC signature the way
 * an MSP's receiver should (verifyWebhookSignature), keeps the accepted notifications and counts
 * the rejected ones.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifyWebhookSignature } from '../adapters/local/webhook-notifier';

export interface WebhookReceiver {
  url: string;
  received: unknown[];
  readonly badSignatures: number;
  close(): Promise<void>;
}

export async function startWebhookReceiver(secret: string): Promise<WebhookReceiver> {
  const received: unknown[] = [];
  let badSignatures = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const ok = verifyWebhookSignature(secret, String(req.headers['x-certops-timestamp']), body, String(req.headers['x-certops-signature']), new Date());
      if (ok) received.push(JSON.parse(body));
      else badSignatures++;
      res.writeHead(ok ? 204 : 401).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/certops`,
    received,
    get badSignatures() {
      return badSignatures;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
