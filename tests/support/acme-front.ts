/**
 * AcmeFront: an HTTPS reverse proxy in front of Pebble that adds ACME Renewal Information
 * (RFC 9773). A STAND-IN: Debian's Pebble 2.4 predates ARI (its directory has no `renewalInfo`),
 * so this front supplies the RFC 9773 parts the tests need, and nothing else:
 *
 * - every request is forwarded to Pebble unchanged (method, path, headers including Host, body),
 *   so JWS `url` headers still match (Pebble compares them with the Host it sees) and Pebble's
 *   nonces, Location and Link headers pass through; Pebble's own origin, should it appear in a
 *   body or header, is rewritten to the front's so the client keeps talking to the front;
 * - with `ari`, the directory gains `renewalInfo` and `GET /renewal-info/<CertID>` answers
 *   `{ suggestedWindow }` with Retry-After (§4.2): the window the test set for that CertID, or the
 *   one later Pebble/Boulder versions compute: ideal renewal at 2/3 of the lifetime, ±24 h,
 *   for certificates Pebble issued through this front (their downloads are recorded);
 * - it records the `replaces` (and `profile`) of every newOrder payload (the JWS payload:
 *   base64url JSON, §5), and with `profiles` advertises ACME profiles in the directory's meta;
 * - on request it refuses orders carrying `replaces` with an RFC 8555 §6.7 problem, or answers the
 *   next newOrder with 429 rateLimited and `Retry-After: 1` (RFC 8555 §6.6), each with a fresh
 *   Replay-Nonce obtained from Pebble.
 */
import { X509Certificate } from 'node:crypto';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { localhostTlsMaterial } from '../../shared/adapters/local/certificate-factory';
import { ariCertId, type RenewalWindow } from '../../shared/domain/ari';
import { parsePemBundle } from '../../shared/domain/certificate';

const ACME_ERROR = 'urn:ietf:params:acme:error:';
/** The Retry-After the front sends with renewal information (the RFC 9773 §4.2 example's value). */
export const RENEWAL_INFO_RETRY_AFTER_S = 21_600;

export interface AcmeFrontOptions {
  /** Add `renewalInfo` to the directory and serve it (default true). */
  ari?: boolean;
  /** Advertise these ACME profiles in the directory's meta (draft-aaron-acme-profiles). */
  profiles?: Record<string, string>;
}

/** What the test can see of, and tell, the front. */
export interface AcmeFront {
  /** The front's directory URL: give it to the ACME client instead of Pebble's. */
  directoryUrl: string;
  /** PEM of the CA that signed the front's TLS certificate (trust it in the client). */
  tlsCaPem: string;
  /** Paths of renewal-info requests, in order (e.g. `/renewal-info/<CertID>`). */
  readonly renewalInfoRequests: string[];
  /** Every newOrder payload's `replaces` (undefined when absent), in order, refused ones included. */
  readonly newOrders: Array<{ replaces?: string; profile?: string; answeredStatus: number }>;
  /** The window served for a CertID from now on. */
  setWindow(certId: string, window: RenewalWindow): void;
  /** Refuse every newOrder that carries `replaces` with this problem, or stop refusing (null). */
  refuseReplaces(problem: { type: 'malformed' | 'alreadyReplaced'; status: 400 | 409 } | null): void;
  /** Answer the next newOrder with 429 rateLimited and `Retry-After: 1`. */
  rateLimitNextOrder(): void;
  close(): Promise<void>;
}

/** Starts the front on 127.0.0.1, port 0, in front of Pebble's directory. */
export async function startAcmeFront(pebble: { directoryUrl: string; agent: https.Agent }, options: AcmeFrontOptions = {}): Promise<AcmeFront> {
  const ari = options.ari ?? true;
  const pebbleUrl = new URL(pebble.directoryUrl);
  const tls = await localhostTlsMaterial('certops test ACME front CA');
  const windows = new Map<string, RenewalWindow>();
  const issued = new Map<string, RenewalWindow>();
  const renewalInfoRequests: string[] = [];
  const newOrders: Array<{ replaces?: string; profile?: string; answeredStatus: number }> = [];
  let refusal: { type: string; status: number } | null = null;
  let rateLimitNext = false;
  let origin = '';
  let pebbleDirectory: Record<string, unknown> = {};

  /** Sends one request to Pebble, Host header as given (Pebble builds its URLs from it). */
  const toPebble = (method: string, path: string, headers: https.RequestOptions['headers'], body?: Buffer) =>
    new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }>((resolve, reject) => {
      const req = https.request(
        { host: '127.0.0.1', port: pebbleUrl.port, servername: 'localhost', method, path, headers, agent: pebble.agent },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 502, headers: res.headers, body: Buffer.concat(chunks) }));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  const pathOf = (url: unknown) => (typeof url === 'string' ? new URL(url).pathname : undefined);
  const rewrite = (text: string) => text.split(pebbleUrl.origin).join(origin);

  const freshNonce = async (): Promise<string> => {
    const res = await toPebble('HEAD', pathOf(pebbleDirectory.newNonce) ?? '/nonce-plz', { host: new URL(origin).host });
    return String(res.headers['replay-nonce'] ?? '');
  };
  const problem = async (res: import('node:http').ServerResponse, status: number, type: string, detail: string, extra: Record<string, string> = {}) => {
    const nonce = await freshNonce();
    res.writeHead(status, { 'Content-Type': 'application/problem+json', 'Replay-Nonce': nonce, 'Cache-Control': 'no-store', ...extra });
    res.end(JSON.stringify({ type: `${ACME_ERROR}${type}`, detail, status }));
  };

  const server = https.createServer({ cert: tls.certPem, key: tls.keyPem }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      handle(req, res, Buffer.concat(chunks)).catch((err: Error) => {
        if (!res.headersSent) res.writeHead(502, { 'Content-Type': 'text/plain' });
        res.end(`acme-front: ${err.message}`);
      });
    });
  });

  const handle = async (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse, body: Buffer) => {
    const path = req.url ?? '/';
    if (ari && req.method === 'GET' && path.startsWith('/renewal-info/')) {
      const certId = decodeURIComponent(path.slice('/renewal-info/'.length));
      renewalInfoRequests.push(path);
      const window = windows.get(certId) ?? issued.get(certId);
      if (!window) return problem(res, 404, 'malformed', `no certificate with CertID ${certId} was issued here`);
      res.writeHead(200, { 'Content-Type': 'application/json', 'Retry-After': String(RENEWAL_INFO_RETRY_AFTER_S) });
      res.end(JSON.stringify({ suggestedWindow: { start: window.start.toISOString(), end: window.end.toISOString() } }));
      return;
    }
    if (req.method === 'POST' && path === pathOf(pebbleDirectory.newOrder)) {
      const payload = jwsPayload(body);
      const replaces = payload?.replaces;
      const entry: { replaces?: string; profile?: string; answeredStatus: number } = { replaces: typeof replaces === 'string' ? replaces : undefined, answeredStatus: 0 };
      if (typeof payload?.profile === 'string') entry.profile = payload.profile;
      newOrders.push(entry);
      if (rateLimitNext) {
        rateLimitNext = false;
        entry.answeredStatus = 429;
        return problem(res, 429, 'rateLimited', 'too many new orders recently (acme-front)', { 'Retry-After': '1' });
      }
      if (refusal && entry.replaces !== undefined) {
        entry.answeredStatus = refusal.status;
        return problem(res, refusal.status, refusal.type, `the certificate named in replaces (${entry.replaces}) cannot be replaced by this order (acme-front)`);
      }
      const answer = await forward(req, res, body);
      entry.answeredStatus = answer;
      return;
    }
    await forward(req, res, body);
  };

  /** Forwards to Pebble; rewrites its origin, adds renewalInfo to the directory, records certificates. */
  const forward = async (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse, body: Buffer): Promise<number> => {
    const headers = { ...req.headers };
    // The front rewrites bodies, so it asks for them uncompressed (Pebble does not compress anyway).
    delete headers['accept-encoding'];
    const answer = await toPebble(req.method ?? 'GET', req.url ?? '/', headers, body.length > 0 ? body : undefined);
    let text = rewrite(answer.body.toString('utf8'));
    const path = (req.url ?? '/').split('?')[0];
    if (path === pebbleUrl.pathname && answer.status === 200) {
      const directory = JSON.parse(text) as { meta?: Record<string, unknown> };
      if (ari) Object.assign(directory, { renewalInfo: `${origin}/renewal-info` });
      if (options.profiles) directory.meta = { ...directory.meta, profiles: options.profiles };
      text = JSON.stringify(directory);
    }
    if (String(answer.headers['content-type'] ?? '').startsWith('application/pem-certificate-chain') && answer.status === 200) {
      recordIssued(text);
    }
    const out: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(answer.headers)) {
      if (value === undefined || name === 'content-length' || name === 'transfer-encoding' || name === 'connection') continue;
      out[name] = Array.isArray(value) ? value.map(rewrite) : rewrite(value);
    }
    res.writeHead(answer.status, out);
    res.end(text);
    return answer.status;
  };

  /** Boulder's RenewalInfoSimple, which later Pebble versions follow: ideal renewal at 2/3 of the lifetime, ±24 h. */
  const recordIssued = (pem: string) => {
    const [leaf] = parsePemBundle(pem);
    if (!leaf) return;
    const x509 = new X509Certificate(leaf.der);
    const notBefore = new Date(x509.validFrom).getTime();
    const notAfter = new Date(x509.validTo).getTime();
    const ideal = notAfter - Math.floor((notAfter + 1000 - notBefore) / 3);
    issued.set(ariCertId(leaf.der), { start: new Date(ideal - 86_400_000), end: new Date(ideal + 86_400_000) });
  };

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `https://localhost:${(server.address() as AddressInfo).port}`;
  const directory = await toPebble('GET', pebbleUrl.pathname, { host: new URL(origin).host });
  pebbleDirectory = JSON.parse(rewrite(directory.body.toString('utf8'))) as Record<string, unknown>;

  return {
    directoryUrl: `${origin}${pebbleUrl.pathname}`,
    tlsCaPem: tls.caPem,
    renewalInfoRequests,
    newOrders,
    setWindow: (certId, window) => windows.set(certId, window),
    refuseReplaces: (p) => (refusal = p),
    rateLimitNextOrder: () => (rateLimitNext = true),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** RFC 7515 flattened JSON serialization: the payload is base64url JSON (empty for POST-as-GET). */
function jwsPayload(body: Buffer): Record<string, unknown> | undefined {
  try {
    const payload = (JSON.parse(body.toString('utf8')) as { payload?: string }).payload;
    return payload ? (JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
