/**
 * Who is calling the certops HTTP API, and which client tenants they may act on (issue 6).
 *
 * Observes: the `Authorization` header of a request. Decides: a Principal (401 otherwise), then
 * per route whether that Principal may touch a tenant (403 otherwise).
 * - In Azure the caller presents a Microsoft Entra ID access token for the certops API; its
 *   signature is checked against the tenant's published keys (JWKS), then issuer, audience, exp
 *   and nbf (RFC 7519 §4.1), by jose, a maintained JWT library.
 * - On one machine the caller presents a token signed by a local ES256 key that `certops token`
 *   mints (the key lives in the data directory, mode 0600).
 *
 * Roles come from the `roles` claim, which carries Entra *app roles*: roles defined on the
 * certops app registration and assigned to users or groups in the enterprise application. Why app
 * roles and not the alternatives:
 * - `groups` carries object ids, not names, and overflows past 200 groups into a Graph lookup
 *   (the "overage" claim); every check would need Graph.
 * - `scp` (delegated scopes) says what the user consented the client app to do, not what the
 *   user is entitled to.
 * - App-role values may contain '.', so one role per client tenant reads as `Technician.contoso`
 *   and the admin can assign it in the portal without any certops-side user table.
 * The cost: one app role per client tenant on the app registration.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, randomUUID, type KeyObject } from 'node:crypto';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as path from 'node:path';
import { systemClock, type Clock } from '../domain/clock';
import { CertopsError, RetryableError } from '../domain/errors';

type Jose = typeof import('jose', { with: { 'resolution-mode': 'import' } });
type JWTPayload = import('jose', { with: { 'resolution-mode': 'import' } }).JWTPayload;
type JWTVerifyGetKey = import('jose', { with: { 'resolution-mode': 'import' } }).JWTVerifyGetKey;

/** The authenticated caller. `tenants` holds the tenants of its Technician roles. */
export interface Principal {
  /** Entra: the `oid` (stable across apps, unlike the pairwise `sub`); local tokens: `sub`. */
  subject: string;
  /** `preferred_username`, else `upn`, else `name`; for display and audit only, never for decisions. */
  name: string | null;
  /** Holds the MspAdmin role: every tenant, and the admin-only actions. */
  mspAdmin: boolean;
  tenants: ReadonlySet<string>;
}

/** Resolves a request's `Authorization` header to a Principal. */
export interface TokenVerifier {
  /**
   * @throws AuthenticationError (401) when the header is missing or the token is malformed,
   *   expired, not yet valid, for another audience or issuer, or not signed by a trusted key.
   * @throws SigningKeysUnavailableError (retryable, 503) when the trusted keys cannot be fetched:
   *   the token was not judged, so it must not be answered with 401.
   */
  verify(authorizationHeader: string | undefined): Promise<Principal>;
}

export const MSP_ADMIN_ROLE = 'MspAdmin';
export const TECHNICIAN_ROLE_PREFIX = 'Technician.';
/** The shape of a certops tenant id (config schema); roles naming anything else are ignored. */
export const TENANT_ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** The app-role value that makes its holder a technician of `tenantId`. */
export function technicianRole(tenantId: string): string {
  if (!TENANT_ID_PATTERN.test(tenantId)) throw new CertopsError(`"${tenantId}" is not a tenant id (${TENANT_ID_PATTERN.source})`);
  return `${TECHNICIAN_ROLE_PREFIX}${tenantId}`;
}

/** 401. `wwwAuthenticate` is the header value to send (RFC 6750 §3). */
export class AuthenticationError extends CertopsError {
  readonly status = 401;
  readonly wwwAuthenticate: string;

  /** @param description why the token was refused; null when no bearer token was presented. */
  constructor(readonly description: string | null, options?: { cause?: unknown }) {
    super(description === null ? 'this API needs a bearer token: send "Authorization: Bearer <token>"' : `the bearer token was refused: ${description}; obtain a new token`, options);
    // RFC 6750 §3.1: a request without credentials gets no error code; error_description is a
    // quoted-string restricted to %x20-21 / %x23-5B / %x5D-7E (no '"' or '\').
    this.wwwAuthenticate =
      description === null ? 'Bearer' : `Bearer error="invalid_token", error_description="${description.replace(/[^\x20\x21\x23-\x5b\x5d-\x7e]/g, ' ')}"`;
  }
}

/** 403: authenticated, but not entitled. Names the refused tenant, never what the caller may see. */
export class AuthorizationError extends CertopsError {
  readonly status = 403;
}

/** The trusted signing keys could not be fetched (network, timeout, non-200, bad JWKS): answer 503. */
export class SigningKeysUnavailableError extends RetryableError {}

/** @throws AuthorizationError unless the principal is an MSP admin or a technician of `tenantId`. */
export function authorizeTenant(principal: Principal, tenantId: string): void {
  if (principal.mspAdmin || principal.tenants.has(tenantId)) return;
  const shown = JSON.stringify(tenantId.length > 64 ? `${tenantId.slice(0, 64)}…` : tenantId);
  throw new AuthorizationError(`this token grants no access to tenant ${shown}; an MSP admin can assign the ${TECHNICIAN_ROLE_PREFIX}<tenant> app role`);
}

/** @throws AuthorizationError unless the principal holds the MspAdmin role. */
export function authorizeAdmin(principal: Principal): void {
  if (!principal.mspAdmin) throw new AuthorizationError(`this action needs the ${MSP_ADMIN_ROLE} app role`);
}

/** Maps verified claims to a Principal. Unknown or malformed roles are ignored, never fatal. */
export function principalFromClaims(claims: Record<string, unknown>): Principal {
  const text = (v: unknown) => (typeof v === 'string' && v.trim() !== '' ? v : null);
  const subject = text(claims.oid) ?? text(claims.sub);
  if (subject === null) throw new AuthenticationError('the token names no subject (oid or sub)');
  const roles = Array.isArray(claims.roles) ? claims.roles.filter((r): r is string => typeof r === 'string') : [];
  const tenants = new Set<string>();
  for (const role of roles) {
    if (!role.startsWith(TECHNICIAN_ROLE_PREFIX)) continue;
    const tenantId = role.slice(TECHNICIAN_ROLE_PREFIX.length);
    if (TENANT_ID_PATTERN.test(tenantId)) tenants.add(tenantId);
  }
  return {
    subject,
    name: text(claims.preferred_username) ?? text(claims.upn) ?? text(claims.name),
    mspAdmin: roles.includes(MSP_ADMIN_ROLE),
    tenants,
  };
}

/** jose's customFetch contract: return the HTTP response; jose requires 200 and a JSON JWKS. */
export type JwksFetch = (url: string, init: { headers: Headers; method: 'GET'; redirect: 'manual'; signal: AbortSignal }) => Promise<Response>;

export interface EntraTokenVerifierOptions {
  /** The Entra tenant (directory) id that issues the tokens: the MSP's own tenant. */
  tenantId: string;
  /** The API's client id (v2 tokens carry it in `aud`), or several accepted values. */
  audience: string | readonly string[];
  /**
   * Default: only the v2 issuer `https://login.microsoftonline.com/<tenantId>/v2.0`. Set the API
   * app registration's `requestedAccessTokenVersion` to 2 so Entra issues v2 tokens whatever
   * endpoint the client used. v1 tokens (`https://sts.windows.net/<tenantId>/`) are refused by
   * default: their `aud` is usually the App ID URI, not the client id, so accepting both issuers
   * silently doubles the audiences to get right. Pass both issuers here to accept v1 deliberately.
   */
  issuer?: string | readonly string[];
  /** Default `https://login.microsoftonline.com/<tenantId>/discovery/v2.0/keys`. */
  jwksUrl?: string;
  /** Allowed clock skew on exp/nbf. Default 60 s. */
  clockToleranceSec?: number;
  clock?: Clock;
  /** TLS agent for the JWKS request (e.g. a private CA); ignored when `fetch` is given. */
  agent?: https.Agent;
  fetch?: JwksFetch;
  /**
   * After a fetch, a token naming an unknown key triggers another fetch only after this long
   * (jose default 30 s): Entra publishes new keys well before using them, and a short cooldown
   * would let anyone make us fetch the JWKS once per forged request.
   */
  jwksCooldownMs?: number;
  jwksTimeoutMs?: number;
}

/** Verifies Entra ID access tokens: RS256 only, signature through the tenant's JWKS. */
export function entraTokenVerifier(options: EntraTokenVerifierOptions): TokenVerifier {
  const jwksUrl = new URL(options.jwksUrl ?? `https://login.microsoftonline.com/${encodeURIComponent(options.tenantId)}/discovery/v2.0/keys`);
  const issuer = options.issuer ?? `https://login.microsoftonline.com/${options.tenantId}/v2.0`;
  const fetchJwks = options.fetch ?? (options.agent ? fetchThrough(options.agent) : undefined);
  let keys: JWTVerifyGetKey | undefined;
  const trustedKeys = (jose: Jose): JWTVerifyGetKey => {
    const remote = jose.createRemoteJWKSet(jwksUrl, {
      cooldownDuration: options.jwksCooldownMs,
      timeoutDuration: options.jwksTimeoutMs,
      ...(fetchJwks ? { [jose.customFetch]: fetchJwks } : {}),
    });
    return async (header, token) => {
      try {
        return await remote(header, token);
      } catch (err) {
        // A token naming a key we do not have is the token's fault; anything else is ours.
        const code = joseCode(err);
        if (code === 'ERR_JWKS_NO_MATCHING_KEY' || code === 'ERR_JWKS_MULTIPLE_MATCHING_KEYS') throw err;
        throw new SigningKeysUnavailableError(`the signing keys at ${jwksUrl.href} could not be fetched; the token was not judged, retry later`, { cause: err });
      }
    };
  };
  return {
    verify: (header) =>
      verifyBearer(header, async (jose, token) => {
        keys ??= trustedKeys(jose); // one resolver per verifier: its cache and cooldown are shared by every request
        const { payload } = await jose.jwtVerify(token, keys, {
          algorithms: ['RS256'],
          issuer: issuer as string | string[],
          audience: options.audience as string | string[],
          clockTolerance: options.clockToleranceSec ?? DEFAULT_CLOCK_TOLERANCE_SEC,
          requiredClaims: ['exp', 'nbf'],
          currentDate: (options.clock ?? systemClock).now(),
        });
        return payload;
      }),
  };
}

export const LOCAL_ISSUER = 'certops-local';
export const LOCAL_AUDIENCE = 'certops-api';
/** A local token is a convenience for one machine, not a long-lived credential. */
export const MAX_LOCAL_TOKEN_TTL_SEC = 7 * 24 * 3600;
const DEFAULT_CLOCK_TOLERANCE_SEC = 60;

/** An EC P-256 public key as a JWK (RFC 7517), `kid` its RFC 7638 thumbprint. */
export interface LocalPublicJwk {
  kty: 'EC';
  crv: 'P-256';
  x: string;
  y: string;
  kid: string;
  alg: 'ES256';
  use: 'sig';
}

export interface LocalTokenVerifierOptions {
  key: LocalPublicJwk | KeyObject;
  issuer?: string;
  audience?: string;
  clockToleranceSec?: number;
  clock?: Clock;
}

/** Verifies tokens minted by `mintLocalToken`: ES256 under one local key. */
export function localTokenVerifier(options: LocalTokenVerifierOptions): TokenVerifier {
  const key = publicKeyOf(options.key);
  return {
    verify: (header) =>
      verifyBearer(header, async (jose, token) => {
        const { payload } = await jose.jwtVerify(token, key, {
          algorithms: ['ES256'],
          issuer: options.issuer ?? LOCAL_ISSUER,
          audience: options.audience ?? LOCAL_AUDIENCE,
          clockTolerance: options.clockToleranceSec ?? DEFAULT_CLOCK_TOLERANCE_SEC,
          requiredClaims: ['exp', 'nbf', 'sub'],
          currentDate: (options.clock ?? systemClock).now(),
        });
        return payload;
      }),
  };
}

export interface LocalTokenRequest {
  subject: string;
  name?: string;
  /** `MspAdmin` and/or `Technician.<tenantId>`; anything else is refused here (a typo would be ignored later). */
  roles: readonly string[];
  ttlSeconds: number;
  audience?: string;
  issuer?: string;
  clock?: Clock;
}

/** Signs a local token (ES256, kid = the key's thumbprint). The token is a credential: never log it. */
export async function mintLocalToken(privateKey: KeyObject, request: LocalTokenRequest): Promise<string> {
  if (request.subject.trim() === '') throw new CertopsError('a local token needs a subject');
  if (!Number.isInteger(request.ttlSeconds) || request.ttlSeconds <= 0 || request.ttlSeconds > MAX_LOCAL_TOKEN_TTL_SEC) {
    throw new CertopsError(`a local token lives 1 to ${MAX_LOCAL_TOKEN_TTL_SEC} seconds, not ${request.ttlSeconds}`);
  }
  for (const role of request.roles) {
    if (role !== MSP_ADMIN_ROLE && !(role.startsWith(TECHNICIAN_ROLE_PREFIX) && TENANT_ID_PATTERN.test(role.slice(TECHNICIAN_ROLE_PREFIX.length)))) {
      throw new CertopsError(`unknown role "${role}": use ${MSP_ADMIN_ROLE} or ${TECHNICIAN_ROLE_PREFIX}<tenant id>`);
    }
  }
  const jose = await loadJose();
  const now = Math.floor((request.clock ?? systemClock).now().getTime() / 1000);
  return new jose.SignJWT({ roles: [...request.roles], ...(request.name ? { name: request.name } : {}) })
    .setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid: jwkOf(createPublicKey(privateKey)).kid })
    .setIssuer(request.issuer ?? LOCAL_ISSUER)
    .setAudience(request.audience ?? LOCAL_AUDIENCE)
    .setSubject(request.subject)
    .setJti(randomUUID())
    .setIssuedAt(now)
    .setNotBefore(now)
    .setExpirationTime(now + request.ttlSeconds)
    .sign(privateKey);
}

export const LOCAL_SIGNING_KEY_FILE = 'api-signing-key.pem';

/**
 * The local signing key: `<dataDir>/api-signing-key.pem` (PKCS#8 PEM, EC P-256, mode 0600),
 * created on first use. Throws when the file is readable by group or others (like ssh does: the
 * key could have been copied) or is not a P-256 key. Never logs the key.
 */
export function loadOrCreateLocalSigningKey(dataDir: string): { privateKey: KeyObject; publicJwk: LocalPublicJwk } {
  const file = path.join(dataDir, LOCAL_SIGNING_KEY_FILE);
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  if (!fs.existsSync(file)) {
    const pem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' });
    // Written whole under a temporary name, then linked: a process starting at the same moment
    // sees either no file or the complete key, and the first link wins (EEXIST for the other).
    const tmp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
    fs.writeFileSync(tmp, pem, { mode: 0o600, flag: 'wx' });
    try {
      fs.linkSync(tmp, file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    } finally {
      fs.unlinkSync(tmp);
    }
  }
  const mode = fs.statSync(file).mode & 0o777;
  if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
    throw new CertopsError(`${file} is readable by others (mode ${mode.toString(8)}): run "chmod 600 ${file}", or delete it to create a new key (tokens already minted stop working)`);
  }
  const privateKey = createPrivateKey(fs.readFileSync(file, 'utf8'));
  if (privateKey.asymmetricKeyType !== 'ec' || privateKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new CertopsError(`${file} does not hold an EC P-256 private key; delete it to create a new one`);
  }
  return { privateKey, publicJwk: jwkOf(createPublicKey(privateKey)) };
}

function publicKeyOf(key: LocalPublicJwk | KeyObject): KeyObject {
  if ('kty' in key && !('type' in key)) return createPublicKey({ key: { ...key }, format: 'jwk' });
  const object = key as KeyObject;
  return object.type === 'private' ? createPublicKey(object) : object;
}

function jwkOf(publicKey: KeyObject): LocalPublicJwk {
  const { crv, x, y } = publicKey.export({ format: 'jwk' });
  if (crv !== 'P-256' || !x || !y) throw new CertopsError('the local signing key must be EC P-256');
  // RFC 7638 §3.2: the thumbprint hashes exactly the required members, lexicographically ordered.
  const kid = createHash('sha256').update(JSON.stringify({ crv, kty: 'EC', x, y })).digest('base64url');
  return { kty: 'EC', crv, x, y, kid, alg: 'ES256', use: 'sig' };
}

async function verifyBearer(header: string | undefined, verify: (jose: Jose, token: string) => Promise<JWTPayload>): Promise<Principal> {
  // RFC 6750 §2.1: `Bearer` (case-insensitive scheme, RFC 7235 §2.1) then the token.
  const match = header?.match(/^\s*bearer(?:\s+(.*))?$/i);
  if (!match) throw new AuthenticationError(null);
  const token = (match[1] ?? '').trim();
  if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token)) throw new AuthenticationError('the token is malformed (not a compact JWS)');
  const jose = await loadJose();
  let payload: JWTPayload;
  try {
    payload = await verify(jose, token);
  } catch (err) {
    if (err instanceof SigningKeysUnavailableError || err instanceof AuthenticationError) throw err;
    throw new AuthenticationError(describeRefusal(err), { cause: err });
  }
  return principalFromClaims(payload);
}

/** What went wrong, in words safe to return to the caller (nothing about our keys or config). */
function describeRefusal(err: unknown): string {
  const { claim, reason } = (err ?? {}) as { claim?: string; reason?: string };
  switch (joseCode(err)) {
    case 'ERR_JWT_EXPIRED':
      return 'the token has expired';
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      if (reason === 'missing') return `the token lacks the ${claim} claim`;
      if (claim === 'nbf') return 'the token is not valid yet (nbf)';
      if (claim === 'aud') return 'the token is not meant for this API (aud)';
      if (claim === 'iss') return 'the token is not from a trusted issuer (iss)';
      return `the token's ${claim} claim is invalid`;
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return 'the token signature does not verify';
    case 'ERR_JWKS_NO_MATCHING_KEY':
    case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS':
      return 'the token is not signed by a key this API trusts';
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
    case 'ERR_JOSE_NOT_SUPPORTED':
      return 'the token signing algorithm is not accepted';
    case 'ERR_JWS_INVALID':
    case 'ERR_JWT_INVALID':
      return 'the token is malformed';
    default:
      return 'the token is invalid';
  }
}

/** jose's stable error code; by property, not instanceof (jose may live in another realm under jest). */
function joseCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('ERR_J') ? code : undefined;
}

/** A JwksFetch over node:https with the given agent (its `ca` decides whom we trust). */
function fetchThrough(agent: https.Agent): JwksFetch {
  const maxBytes = 1 << 20; // a JWKS is a few KB; refuse to buffer an unbounded body
  return (url, init) =>
    new Promise<Response>((resolve, reject) => {
      const request = https.get(url, { agent, signal: init.signal, headers: Object.fromEntries(init.headers) }, (response) => {
        const chunks: Buffer[] = [];
        let size = 0;
        response.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > maxBytes) request.destroy(new Error(`the JWKS response exceeds ${maxBytes} bytes`));
          else chunks.push(chunk);
        });
        response.on('end', () => resolve(new Response(Buffer.concat(chunks), { status: response.statusCode ?? 502 })));
        response.on('error', reject);
      });
      request.on('error', reject);
    });
}

let joseModule: Promise<Jose> | undefined;

/**
 * jose 6 is an ES module and this project compiles to CommonJS: `require` loads it on Node ≥
 * 20.19 / 22.12 (require of ESM); older Node 20 falls back to a dynamic import.
 */
function loadJose(): Promise<Jose> {
  joseModule ??= (async () => {
    try {
      return require('jose') as Jose;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ERR_REQUIRE_ESM') throw err;
      return import('jose');
    }
  })();
  return joseModule;
}
