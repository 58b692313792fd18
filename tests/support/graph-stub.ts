/**
 * A Microsoft Graph stand-in for sendMail, over HTTPS on 127.0.0.1 port 0 (certificate from
 * localhostTlsMaterial; clients trust `caPem`). It follows the v1.0 shapes of
 * https://learn.microsoft.com/graph/api/user-sendmail:
 *
 *   POST /v1.0/users/{id | userPrincipalName}/sendMail
 *     Content-Type: application/json  { "message": {...}, "saveToSentItems": bool }
 *     Content-Type: text/plain        base64 of a MIME message
 *   → 202 Accepted, empty body
 *
 * Errors in Graph's envelope `{ "error": { "code", "message", "innerError" } }`: 401
 * InvalidAuthenticationToken without a bearer token, 400 for undecodable MIME or no recipients,
 * 404 for other paths, and whatever `failNext` queued (e.g. 429 with Retry-After, once).
 *
 * Each accepted mail is recorded with its MIME parsed by an independent small parser (header
 * unfolding, RFC 2047 encoded-words, multipart boundaries, quoted-printable and base64), so tests
 * check what a mail client would see, not what the builder meant.
 */
import { randomUUID } from 'node:crypto';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { localhostTlsMaterial } from '../../shared/adapters/local/certificate-factory';

export interface MimePart {
  contentType: string;
  charset?: string;
  transferEncoding?: string;
  body: string;
}

export interface RecordedMail {
  sender: string;
  format: 'mime' | 'json';
  authorization: string;
  /** Decoded header values (encoded-words decoded, unfolded), names lower-case. */
  headers: Record<string, string>;
  subject: string;
  from?: string;
  to: string[];
  toHeader: string;
  parts: MimePart[];
  text?: string;
  html?: string;
  saveToSentItems?: boolean;
  /** MIME only: the message as sent (before decoding), and facts about its lines. */
  raw?: string;
  bareLineFeeds?: number;
  longestLine?: number;
}

export interface GraphRequestRecord {
  method: string;
  path: string;
  authorization?: string;
  contentType?: string;
  status: number;
}

export interface GraphFailure {
  status: number;
  code: string;
  message: string;
  retryAfter?: string;
}

export interface GraphStub {
  baseUrl: string;
  caPem: string;
  agent: https.Agent;
  mails: RecordedMail[];
  requests: GraphRequestRecord[];
  /** The next request that carries a token gets this answer instead (once per call). */
  failNext(failure: GraphFailure): void;
  close(): Promise<void>;
}

const SEND_MAIL = /^\/v1\.0\/users\/([^/]+)\/sendMail$/;

export async function startGraphStub(): Promise<GraphStub> {
  const tls = await localhostTlsMaterial('certops test Graph CA');
  const mails: RecordedMail[] = [];
  const requests: GraphRequestRecord[] = [];
  const failures: GraphFailure[] = [];

  const server = https.createServer({ cert: tls.certPem, key: tls.keyPem }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = new URL(req.url ?? '/', 'https://127.0.0.1').pathname;
      const authorization = req.headers.authorization;
      const contentType = req.headers['content-type'];
      const answer = (status: number, error?: { code: string; message: string }, headers: Record<string, string> = {}) => {
        requests.push({ method: req.method ?? '', path, authorization, contentType, status });
        const requestId = randomUUID();
        const body = error
          ? JSON.stringify({ error: { ...error, innerError: { date: new Date().toISOString().slice(0, 19), 'request-id': requestId, 'client-request-id': requestId } } })
          : '';
        res.writeHead(status, { 'request-id': requestId, ...(error ? { 'content-type': 'application/json' } : {}), 'content-length': String(Buffer.byteLength(body)), ...headers });
        res.end(body);
      };
      const match = req.method === 'POST' ? SEND_MAIL.exec(path) : null;
      if (!match) return answer(404, { code: 'ResourceNotFound', message: `Resource not found for the segment '${path}'.` });
      if (!authorization || !/^Bearer \S+$/.test(authorization)) return answer(401, { code: 'InvalidAuthenticationToken', message: 'Access token is empty.' });
      const failure = failures.shift();
      if (failure) return answer(failure.status, { code: failure.code, message: failure.message }, failure.retryAfter ? { 'retry-after': failure.retryAfter } : {});

      const sender = decodeURIComponent(match[1]);
      const body = Buffer.concat(chunks).toString('utf8');
      let mail: RecordedMail;
      try {
        mail = /^application\/json/i.test(contentType ?? '') ? fromJson(sender, authorization, body) : fromMime(sender, authorization, body);
      } catch (err) {
        return answer(400, { code: (err as { code?: string }).code ?? 'ErrorInvalidRequest', message: (err as Error).message });
      }
      if (mail.to.length === 0) return answer(400, { code: 'ErrorInvalidRecipients', message: 'At least one recipient is not valid.' });
      mails.push(mail);
      answer(202);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const agent = new https.Agent({ ca: tls.caPem, keepAlive: true });
  return {
    baseUrl: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    caPem: tls.caPem,
    agent,
    mails,
    requests,
    failNext: (failure) => failures.push(failure),
    close: () =>
      new Promise<void>((resolve) => {
        agent.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

class GraphRequestError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

interface JsonMessage {
  subject?: string;
  body?: { contentType?: string; content?: string };
  from?: { emailAddress?: { address?: string } };
  toRecipients?: Array<{ emailAddress?: { address?: string; name?: string } }>;
}

function fromJson(sender: string, authorization: string, body: string): RecordedMail {
  const { message, saveToSentItems } = JSON.parse(body) as { message?: JsonMessage; saveToSentItems?: boolean };
  if (!message) throw new GraphRequestError('ErrorInvalidRequest', "The 'message' parameter is missing.");
  const to = (message.toRecipients ?? []).map((r) => r.emailAddress?.address ?? '').filter(Boolean);
  const isHtml = /^html$/i.test(message.body?.contentType ?? 'text');
  const content = message.body?.content ?? '';
  return {
    sender,
    format: 'json',
    authorization,
    headers: {},
    subject: message.subject ?? '',
    from: message.from?.emailAddress?.address,
    to,
    toHeader: to.join(', '),
    parts: [{ contentType: isHtml ? 'text/html' : 'text/plain', body: content }],
    text: isHtml ? undefined : content,
    html: isHtml ? content : undefined,
    saveToSentItems,
  };
}

function fromMime(sender: string, authorization: string, body: string): RecordedMail {
  const compact = body.replace(/\s+/g, '');
  if (!compact || !/^[A-Za-z0-9+/]+={0,2}$/.test(compact) || compact.length % 4 !== 0) {
    throw new GraphRequestError('ErrorMimeContentInvalidBase64String', 'Invalid base64 string for MIME content.');
  }
  const raw = Buffer.from(compact, 'base64').toString('utf8');
  const { headers, body: content } = splitEntity(raw);
  const type = parseContentType(headers['content-type'] ?? 'text/plain');
  let parts: MimePart[];
  if (type.value === 'multipart/alternative' || type.value === 'multipart/mixed') {
    if (!type.params.boundary) throw new GraphRequestError('ErrorMimeContentInvalid', 'multipart without boundary');
    parts = splitMultipart(content, type.params.boundary).map((p) => {
      const partType = parseContentType(p.headers['content-type'] ?? 'text/plain');
      const cte = (p.headers['content-transfer-encoding'] ?? '7bit').toLowerCase();
      return { contentType: partType.value, charset: partType.params.charset, transferEncoding: cte, body: decodeBody(p.body, cte) };
    });
  } else {
    const cte = (headers['content-transfer-encoding'] ?? '7bit').toLowerCase();
    parts = [{ contentType: type.value, charset: type.params.charset, transferEncoding: cte, body: decodeBody(content, cte) }];
  }
  const toHeader = headers.to ?? '';
  return {
    sender,
    format: 'mime',
    authorization,
    headers,
    subject: headers.subject ?? '',
    from: headers.from,
    to: addresses(toHeader),
    toHeader,
    parts,
    text: parts.find((p) => p.contentType === 'text/plain')?.body,
    html: parts.find((p) => p.contentType === 'text/html')?.body,
    raw,
    bareLineFeeds: (raw.match(/(^|[^\r])\n/g) ?? []).length,
    longestLine: Math.max(...raw.split('\r\n').map((l) => l.length)),
  };
}

/** Headers (unfolded per RFC 5322 §2.2.3, encoded-words decoded) and the body after the blank line. */
function splitEntity(entity: string): { headers: Record<string, string>; body: string } {
  const end = entity.indexOf('\r\n\r\n');
  const head = end === -1 ? entity : entity.slice(0, end);
  const headers: Record<string, string> = {};
  for (const line of head.replace(/\r\n(?=[ \t])/g, '').split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    headers[line.slice(0, colon).trim().toLowerCase()] = decodeEncodedWords(line.slice(colon + 1).trim());
  }
  return { headers, body: end === -1 ? '' : entity.slice(end + 4) };
}

function parseContentType(value: string): { value: string; params: Record<string, string> } {
  const [type, ...rest] = value.split(';');
  const params: Record<string, string> = {};
  for (const p of rest) {
    const eq = p.indexOf('=');
    if (eq > 0) params[p.slice(0, eq).trim().toLowerCase()] = p.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
  }
  return { value: type.trim().toLowerCase(), params };
}

/** RFC 2046 §5.1.1: parts sit between `--boundary` delimiter lines, closed by `--boundary--`. */
function splitMultipart(body: string, boundary: string): Array<{ headers: Record<string, string>; body: string }> {
  const delimiter = `\r\n--${boundary}`;
  const text = `\r\n${body}`;
  const close = text.indexOf(`${delimiter}--`);
  if (close === -1) throw new GraphRequestError('ErrorMimeContentInvalid', 'multipart without its closing delimiter');
  return text
    .slice(0, close)
    .split(delimiter)
    .slice(1)
    .map((chunk) => splitEntity(chunk.replace(/^[ \t]*\r\n/, '')));
}

function decodeBody(body: string, cte: string): string {
  if (cte === 'base64') return Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
  if (cte === 'quoted-printable') {
    const soft = body.replace(/=\r\n/g, '');
    const bytes: number[] = [];
    for (let i = 0; i < soft.length; i++) {
      if (soft[i] === '=' && /^[0-9A-F]{2}$/i.test(soft.slice(i + 1, i + 3))) {
        bytes.push(parseInt(soft.slice(i + 1, i + 3), 16));
        i += 2;
      } else {
        bytes.push(...Buffer.from(soft[i], 'utf8'));
      }
    }
    return Buffer.from(bytes).toString('utf8').replace(/\r\n/g, '\n');
  }
  return body.replace(/\r\n/g, '\n');
}

/** RFC 2047: `=?charset?B|Q?text?=`; whitespace between two adjacent encoded-words is dropped (§6.2). */
function decodeEncodedWords(value: string): string {
  const word = /=\?([^?]+)\?([BbQq])\?([^?]*)\?=/g;
  const joined = value.replace(/(=\?[^?]+\?[BbQq]\?[^?]*\?=)\s+(?==\?[^?]+\?[BbQq]\?[^?]*\?=)/g, '$1');
  // Each word is decoded on its own: RFC 2047 §5 (3) requires whole characters per word, so a
  // character split between two words shows up as U+FFFD instead of being silently repaired.
  return joined.replace(word, (_all, charset: string, encoding: string, text: string) => {
    if (charset.toLowerCase() !== 'utf-8') throw new GraphRequestError('ErrorMimeContentInvalid', `charset ${charset}`);
    const bytes =
      encoding.toUpperCase() === 'B'
        ? Buffer.from(text, 'base64')
        : Buffer.from(text.replace(/_/g, ' ').replace(/=([0-9A-F]{2})/gi, (_s, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1');
    return bytes.toString('utf8');
  });
}

function addresses(header: string): string[] {
  const angle = [...header.matchAll(/<([^<>\s]+@[^<>\s]+)>/g)].map((m) => m[1]);
  if (angle.length) return angle;
  return header.split(',').map((a) => a.trim()).filter((a) => a.includes('@'));
}
