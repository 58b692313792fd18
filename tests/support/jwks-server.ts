/**
 * The Entra JWKS endpoint on loopback (HTTPS): `GET /{tenant}/discovery/v2.0/keys` answers the
 * public halves of RS256 test keys as Entra does (`{ keys: [{ kty, use, kid, n, e }] }`). Keys can
 * be added and removed (rotation); every request is counted, so a test can prove how often a
 * verifier fetched. Its TLS certificate chains to a throwaway CA: trust it through `agent`.
 */
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { localhostTlsMaterial } from '../../shared/adapters/local/certificate-factory';

type Jose = typeof import('jose', { with: { 'resolution-mode': 'import' } });
type CryptoKey = Awaited<ReturnType<Jose['generateKeyPair']>>['privateKey'];

export interface TestSigningKey {
  kid: string;
  /** Signs test tokens (RS256). */
  privateKey: CryptoKey;
  publicKey: CryptoKey;
}

export interface JwksServer {
  /** The JWKS url of `tenantId`. */
  jwksUrl: string;
  tenantId: string;
  /** Trusts the server's CA and nothing else. */
  agent: https.Agent;
  /** JWKS requests served so far. */
  readonly requests: number;
  /** Keys published now, in order. */
  readonly keys: readonly TestSigningKey[];
  /** Generates and publishes a new key (rotation: Entra publishes before it signs). */
  addKey(kid?: string): Promise<TestSigningKey>;
  /** Publishes a key made by `unpublishedKey` (rotation prepared ahead of time). */
  publish(key: TestSigningKey): void;
  removeKey(kid: string): void;
  /** A key that is never published: tokens it signs must be refused. */
  unpublishedKey(kid?: string): Promise<TestSigningKey>;
  close(): Promise<void>;
}

/** @param options.jose the jose module (default: `require('jose')`, see shared/api/auth.ts on ESM). */
export async function startJwksServer(options: { tenantId?: string; jose?: Jose } = {}): Promise<JwksServer> {
  const jose = options.jose ?? (require('jose') as Jose);
  const tenantId = options.tenantId ?? '11111111-2222-3333-4444-555555555555';
  const tls = await localhostTlsMaterial('jwks stub CA');
  const published: TestSigningKey[] = [];
  let requests = 0;
  let serial = 0;
  const keysPath = `/${tenantId}/discovery/v2.0/keys`;

  const generate = async (kid?: string): Promise<TestSigningKey> => {
    const { privateKey, publicKey } = await jose.generateKeyPair('RS256', { extractable: true });
    return { kid: kid ?? `test-key-${++serial}`, privateKey, publicKey };
  };

  const server = https.createServer({ cert: tls.certPem, key: tls.keyPem }, (req, res) => {
    if (req.method !== 'GET' || req.url !== keysPath) {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not_found"}');
      return;
    }
    requests++;
    void Promise.all(published.map(async (k) => ({ ...(await jose.exportJWK(k.publicKey)), kid: k.kid, use: 'sig' }))).then((keys) => {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const agent = new https.Agent({ ca: tls.caPem, keepAlive: false });

  return {
    jwksUrl: `${base}${keysPath}`,
    tenantId,
    agent,
    get requests() {
      return requests;
    },
    get keys() {
      return [...published];
    },
    addKey: async (kid) => {
      const key = await generate(kid);
      published.push(key);
      return key;
    },
    publish: (key) => {
      published.push(key);
    },
    removeKey: (kid) => {
      const at = published.findIndex((k) => k.kid === kid);
      if (at >= 0) published.splice(at, 1);
    },
    unpublishedKey: (kid) => generate(kid),
    close: () => {
      agent.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
