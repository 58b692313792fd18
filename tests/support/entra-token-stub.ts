/**
 * A Microsoft Entra token endpoint on loopback (HTTPS), as the identity library calls it:
 * OpenID discovery at `/{tenant}/v2.0/.well-known/openid-configuration` and client-credential
 * token requests at `/{tenant}/oauth2/v2.0/token` (RFC 6749 §4.4, with a JWT-bearer client
 * assertion, RFC 7523). Every token request is recorded; the token says whom it was for.
 */
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { localhostTlsMaterial } from '../../shared/adapters/local/certificate-factory';

export interface TokenRequest {
  tenant: string;
  form: Record<string, string>;
}

export interface EntraTokenStub {
  /** The authority host to give the credential (`https://127.0.0.1:PORT`). */
  authorityHost: string;
  /** PEM of the CA that signed the stub's TLS certificate. */
  caPem: string;
  requests: TokenRequest[];
  close(): Promise<void>;
}

export async function startEntraTokenStub(): Promise<EntraTokenStub> {
  const tls = await localhostTlsMaterial('entra stub CA');
  const requests: TokenRequest[] = [];
  let base = '';
  const server = https.createServer({ cert: tls.certPem, key: tls.keyPem }, (req, res) => {
    const url = new URL(req.url ?? '/', base);
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const discovery = url.pathname.match(/^\/([^/]+)\/v2\.0\/\.well-known\/openid-configuration$/);
    if (req.method === 'GET' && discovery) {
      const tenant = discovery[1];
      return json(200, {
        issuer: `${base}/${tenant}/v2.0`,
        authorization_endpoint: `${base}/${tenant}/oauth2/v2.0/authorize`,
        token_endpoint: `${base}/${tenant}/oauth2/v2.0/token`,
        jwks_uri: `${base}/${tenant}/discovery/v2.0/keys`,
        response_types_supported: ['code', 'id_token', 'token'],
        subject_types_supported: ['pairwise'],
        id_token_signing_alg_values_supported: ['RS256'],
      });
    }
    const token = url.pathname.match(/^\/([^/]+)\/oauth2\/v2\.0\/token$/);
    if (req.method === 'POST' && token) {
      let body = '';
      req.on('data', (c) => (body += String(c)));
      req.on('end', () => {
        const form = Object.fromEntries(new URLSearchParams(body));
        requests.push({ tenant: token[1], form });
        if (form.grant_type !== 'client_credentials' || !form.client_assertion) {
          return json(400, { error: 'invalid_request', error_description: 'client_credentials with a client_assertion expected' });
        }
        return json(200, { token_type: 'Bearer', expires_in: 3600, ext_expires_in: 3600, access_token: `token:${token[1]}:${form.client_id}:${form.scope}` });
      });
      return;
    }
    json(404, { error: 'not_found', path: url.pathname });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    authorityHost: base,
    caPem: tls.caPem,
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
