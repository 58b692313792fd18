/**
 * The HTTP API's authentication and tenant authorization (shared/api/auth.ts): Entra ID tokens
 * verified against a JWKS served over real HTTPS on loopback, local tokens minted by the CLI.
 */
// jose 6 is an ES module and jest.config.js does not transform node_modules, so jest cannot load
// it. Until jest.config.js transforms jose, load the real jose through Node's own loader (Node ≥
// 20.19 requires ES modules natively), outside jest's module registry.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import {
  AuthenticationError,
  AuthorizationError,
  authorizeAdmin,
  authorizeTenant,
  entraTokenVerifier,
  LOCAL_SIGNING_KEY_FILE,
  loadOrCreateLocalSigningKey,
  localTokenVerifier,
  mintLocalToken,
  SigningKeysUnavailableError,
  type Principal,
  type TokenVerifier,
} from '../../shared/api/auth';
import { tokenCommand } from '../../shared/cli/token-command';
import { fixedClock } from '../../shared/domain/clock';
import { startJwksServer, type JwksServer, type TestSigningKey } from '../support/jwks-server';

type Jose = typeof import('jose', { with: { 'resolution-mode': 'import' } });
const jose = require('jose') as Jose;

const NOW = new Date('2026-03-01T12:00:00Z');
const NOW_SEC = NOW.getTime() / 1000;
const API_CLIENT_ID = '6f1c2b9e-0d4a-4a57-9a51-1c0ffee00001';
const clock = fixedClock(NOW);

let jwks: JwksServer;
let signingKey: TestSigningKey;
let verifier: TokenVerifier;

beforeAll(async () => {
  jwks = await startJwksServer({ jose });
  signingKey = await jwks.addKey();
  verifier = entraVerifierFor(jwks);
});
afterAll(() => jwks.close());

function entraVerifierFor(server: JwksServer, options: { jwksCooldownMs?: number; jwksUrl?: string; trustServer?: boolean } = {}): TokenVerifier {
  return entraTokenVerifier({
    tenantId: server.tenantId,
    audience: API_CLIENT_ID,
    jwksUrl: options.jwksUrl ?? server.jwksUrl,
    agent: options.trustServer === false ? undefined : server.agent,
    clock,
    jwksCooldownMs: options.jwksCooldownMs,
    jwksTimeoutMs: 2000,
  });
}

interface EntraTokenSpec {
  claims?: Record<string, unknown>;
  without?: string[];
  header?: Record<string, unknown>;
  key?: TestSigningKey;
}

/** The claims of an Entra v2 access token for a user holding app roles on the certops API. */
function entraClaims(): Record<string, unknown> {
  return {
    iss: `https://login.microsoftonline.com/${jwks.tenantId}/v2.0`,
    aud: API_CLIENT_ID,
    tid: jwks.tenantId,
    oid: 'oid-of-alice',
    sub: 'pairwise-sub-of-alice',
    preferred_username: 'alice@msp.example',
    name: 'Alice Technician',
    roles: ['Technician.contoso'],
    ver: '2.0',
    iat: NOW_SEC - 60,
    nbf: NOW_SEC - 60,
    exp: NOW_SEC + 3600,
  };
}

async function anEntraToken(spec: EntraTokenSpec = {}): Promise<string> {
  const key = spec.key ?? signingKey;
  const claims = { ...entraClaims(), ...spec.claims };
  for (const name of spec.without ?? []) delete claims[name];
  return new jose.SignJWT(claims).setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: key.kid, ...spec.header }).sign(key.privateKey);
}

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const bearer = (token: string) => `Bearer ${token}`;

async function refusal(v: TokenVerifier, header: string | undefined): Promise<AuthenticationError> {
  const outcome = await v.verify(header).then(
    (principal) => principal,
    (err: unknown) => err,
  );
  if (!(outcome instanceof AuthenticationError)) throw new Error(`expected an AuthenticationError, got ${outcome instanceof Error ? outcome.stack : JSON.stringify(outcome)}`);
  return outcome;
}

describe('Entra ID bearer tokens', () => {
  test('When a valid Entra token is presented, then the principal is its oid, username and technician tenants', async () => {
    const principal = await verifier.verify(bearer(await anEntraToken({ claims: { roles: ['Technician.contoso', 'Technician.fabrikam'] } })));
    expect(principal).toEqual<Principal>({ subject: 'oid-of-alice', name: 'alice@msp.example', mspAdmin: false, tenants: new Set(['contoso', 'fabrikam']) });
  });

  test('When the token expired 30 s ago, then it is still accepted (60 s of clock skew is tolerated)', async () => {
    await expect(verifier.verify(bearer(await anEntraToken({ claims: { exp: NOW_SEC - 30 } })))).resolves.toMatchObject({ subject: 'oid-of-alice' });
  });

  test.each<{ name: string; claims: Record<string, unknown>; without?: string[]; expected: Partial<Principal> }>([
    { name: 'MspAdmin', claims: { roles: ['MspAdmin'] }, expected: { mspAdmin: true, tenants: new Set() } },
    { name: 'MspAdmin and a technician role', claims: { roles: ['Technician.contoso', 'MspAdmin'] }, expected: { mspAdmin: true, tenants: new Set(['contoso']) } },
    {
      name: 'roles that are not certops roles or name no valid tenant id',
      claims: { roles: ['Reader', 'Technician.', 'Technician.Contoso', 'Technician.-x', 'technician.contoso', 'Technician.a.b', 'mspadmin', 7, 'Technician.ok-1'] },
      expected: { mspAdmin: false, tenants: new Set(['ok-1']) },
    },
    { name: 'a roles claim that is not an array', claims: { roles: 'MspAdmin' }, expected: { mspAdmin: false, tenants: new Set() } },
    { name: 'no roles claim (a user with no app role assigned)', claims: {}, without: ['roles'], expected: { mspAdmin: false, tenants: new Set() } },
    { name: 'no oid (subject falls back to sub) and upn instead of preferred_username', claims: {}, without: ['oid', 'preferred_username'], expected: { subject: 'pairwise-sub-of-alice', name: 'alice@msp.example' } },
  ])('When the token carries $name, then the principal reflects exactly the certops roles', async ({ claims, without, expected }) => {
    const withUpn = without?.includes('preferred_username') ? { upn: 'alice@msp.example' } : {};
    const principal = await verifier.verify(bearer(await anEntraToken({ claims: { ...claims, ...withUpn }, without })));
    expect(principal).toMatchObject(expected);
  });

  const invalidToken = /^Bearer error="invalid_token", error_description="[\x20\x21\x23-\x5b\x5d-\x7e]+"$/;

  test.each<{ name: string; header: () => Promise<string | undefined>; description: RegExp | null }>([
    { name: 'no Authorization header', header: async () => undefined, description: null },
    { name: 'a Basic credential instead of a bearer token', header: async () => 'Basic YWxpY2U6cGFzc3dvcmQ=', description: null },
    { name: 'the Bearer scheme with no token', header: async () => 'Bearer', description: /malformed/ },
    { name: 'a bearer value that is not a JWS', header: async () => 'Bearer not-a-jwt', description: /malformed/ },
    { name: 'a token that expired two minutes ago', header: async () => bearer(await anEntraToken({ claims: { exp: NOW_SEC - 120 } })), description: /has expired/ },
    { name: 'a token not valid for five more minutes', header: async () => bearer(await anEntraToken({ claims: { nbf: NOW_SEC + 300 } })), description: /not valid yet/ },
    { name: "a token for another API's audience", header: async () => bearer(await anEntraToken({ claims: { aud: 'api://another-api' } })), description: /not meant for this API/ },
    {
      name: "a token from another Entra tenant's issuer",
      header: async () => bearer(await anEntraToken({ claims: { iss: 'https://login.microsoftonline.com/99999999-0000-0000-0000-000000000000/v2.0' } })),
      description: /trusted issuer/,
    },
    { name: 'a v1 token (sts.windows.net issuer) of the same tenant', header: async () => bearer(await anEntraToken({ claims: { iss: `https://sts.windows.net/${jwks.tenantId}/`, ver: '1.0' } })), description: /trusted issuer/ },
    { name: 'a token without exp', header: async () => bearer(await anEntraToken({ without: ['exp'] })), description: /lacks the exp claim/ },
    { name: 'a token without nbf', header: async () => bearer(await anEntraToken({ without: ['nbf'] })), description: /lacks the nbf claim/ },
    { name: 'a token with no oid and no sub', header: async () => bearer(await anEntraToken({ without: ['oid', 'sub'] })), description: /names no subject/ },
    { name: 'a token signed by an unknown key under its own kid', header: async () => bearer(await anEntraToken({ key: await jwks.unpublishedKey('attacker-key') })), description: /not signed by a key this API trusts/ },
    {
      name: 'a token signed by an unknown key claiming the published kid',
      header: async () => bearer(await anEntraToken({ key: { ...(await jwks.unpublishedKey()), kid: signingKey.kid } })),
      description: /signature does not verify/,
    },
    { name: 'an unsigned token (alg none)', header: async () => bearer(`${b64url({ alg: 'none', typ: 'JWT' })}.${b64url(entraClaims())}.`), description: /algorithm is not accepted/ },
    {
      name: 'an HS256 token keyed with the public key (algorithm confusion)',
      header: async () => {
        const secret = Buffer.from(await jose.exportSPKI(signingKey.publicKey));
        return bearer(await new jose.SignJWT(entraClaims()).setProtectedHeader({ alg: 'HS256', kid: signingKey.kid }).sign(secret));
      },
      description: /algorithm is not accepted/,
    },
    {
      name: 'a genuine token whose payload was raised to MspAdmin',
      header: async () => {
        const [head, , signature] = (await anEntraToken()).split('.');
        return bearer(`${head}.${b64url({ ...entraClaims(), roles: ['MspAdmin'] })}.${signature}`);
      },
      description: /signature does not verify/,
    },
    {
      name: 'a genuine token with its signature stripped',
      header: async () => bearer(`${(await anEntraToken()).split('.').slice(0, 2).join('.')}.`),
      description: /signature does not verify|malformed/,
    },
  ])('When the request presents $name, then it is refused with 401 and the RFC 6750 challenge', async ({ header, description }) => {
    const err = await refusal(verifier, await header());
    expect(err.status).toBe(401);
    if (description === null) {
      expect(err.wwwAuthenticate).toBe('Bearer');
    } else {
      expect(err.wwwAuthenticate).toMatch(invalidToken);
      expect(err.wwwAuthenticate).toMatch(description);
    }
  });

  test('When tokens name an unknown kid right after a fetch, then the keys are not fetched again (no fetch per forged request)', async () => {
    const server = await startJwksServer({ jose });
    try {
      const published = await server.addKey();
      const v = entraVerifierFor(server);
      await v.verify(bearer(await anEntraToken({ key: published })));
      const forger = await server.unpublishedKey('forged-kid');
      for (let i = 0; i < 5; i++) await refusal(v, bearer(await anEntraToken({ key: forger })));
      expect(server.requests).toBe(1);
    } finally {
      await server.close();
    }
  });

  const COOLDOWN_MS = 500;
  test('When Entra rotates to a new key, then the first tokens signed by it fetch the keys once, and later ones not at all', async () => {
    const server = await startJwksServer({ jose });
    try {
      const first = await server.addKey();
      const second = await server.unpublishedKey(); // RSA key generation takes longer than the cooldown
      const v = entraVerifierFor(server, { jwksCooldownMs: COOLDOWN_MS });
      await v.verify(bearer(await anEntraToken({ key: first })));
      server.publish(second);
      server.removeKey(first.kid);
      // Within the cooldown the new kid is refused without a fetch; after it, fetched once for all.
      await refusal(v, bearer(await anEntraToken({ key: second })));
      expect(server.requests).toBe(1);
      await new Promise((resolve) => setTimeout(resolve, COOLDOWN_MS + 100));
      const tokens = await Promise.all([1, 2, 3, 4, 5].map(() => anEntraToken({ key: second })));
      const principals = await Promise.all(tokens.map((t) => v.verify(bearer(t))));
      expect(principals.map((p) => p.subject)).toEqual(Array(5).fill('oid-of-alice'));
      await v.verify(bearer(tokens[0]));
      expect(server.requests).toBe(2);
    } finally {
      await server.close();
    }
  });

  test.each([
    { name: 'answers 404', options: { jwksUrl: 'elsewhere' } },
    { name: 'presents a certificate the verifier does not trust', options: { trustServer: false } },
  ])('When the JWKS endpoint $name, then verification fails as retryable (503), not as a refused token (401)', async ({ options }) => {
    const v = entraVerifierFor(jwks, { ...options, jwksUrl: options.jwksUrl ? jwks.jwksUrl.replace('/discovery/', `/${options.jwksUrl}/`) : undefined });
    const outcome = await v.verify(bearer(await anEntraToken())).catch((err: unknown) => err);
    expect(outcome).toBeInstanceOf(SigningKeysUnavailableError);
    expect(outcome).not.toBeInstanceOf(AuthenticationError);
  });
});

describe('Tenant authorization', () => {
  const principalWith = async (roles: string[]) => verifier.verify(bearer(await anEntraToken({ claims: { roles } })));
  let technicianOfA: Principal;
  let mspAdmin: Principal;
  beforeAll(async () => {
    technicianOfA = await principalWith(['Technician.tenant-a']);
    mspAdmin = await principalWith(['MspAdmin']);
  });

  function authorizationErrorOf(act: () => void): AuthorizationError {
    try {
      act();
    } catch (err) {
      if (err instanceof AuthorizationError) return err;
      throw err;
    }
    throw new Error('expected an AuthorizationError, but the action was allowed');
  }

  test('When a technician of tenant A acts on tenant A, then it is allowed', () => {
    expect(() => authorizeTenant(technicianOfA, 'tenant-a')).not.toThrow();
  });

  test.each(['tenant-b', 'tenant-a2', 'TENANT-A', 'tenant', ''])('When a technician of tenant A acts on "%s", then 403 names that tenant and not the ones it may see', (other) => {
    const err = authorizationErrorOf(() => authorizeTenant(technicianOfA, other));
    expect(err.status).toBe(403);
    expect(err.message).toContain(JSON.stringify(other));
    expect(err.message).not.toContain('"tenant-a"');
  });

  test.each(['tenant-a', 'tenant-b', 'any-other-tenant'])('When an MSP admin acts on %s, then it is allowed', (tenant) => {
    expect(() => authorizeTenant(mspAdmin, tenant)).not.toThrow();
  });

  test('When a technician asks for an admin-only action, then 403 names the missing role; an MSP admin passes', () => {
    expect(authorizationErrorOf(() => authorizeAdmin(technicianOfA)).message).toMatch(/MspAdmin/);
    expect(() => authorizeAdmin(mspAdmin)).not.toThrow();
  });
});

describe('Local tokens (one machine, minted by the CLI)', () => {
  let dataDir: string;
  beforeEach(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'certops-api-auth-'));
  });
  afterEach(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  const localVerifier = (dir: string, at = clock) => localTokenVerifier({ key: loadOrCreateLocalSigningKey(dir).publicJwk, clock: at });
  const mint = (dir: string, overrides: Partial<Parameters<typeof mintLocalToken>[1]> = {}) =>
    mintLocalToken(loadOrCreateLocalSigningKey(dir).privateKey, { subject: 'tech-1', name: 'Tech One', roles: ['Technician.contoso'], ttlSeconds: 3600, clock, ...overrides });

  test('When the signing key is first needed, then it is created as PKCS#8 PEM with mode 0600, and reused afterwards', () => {
    const first = loadOrCreateLocalSigningKey(dataDir);
    const file = path.join(dataDir, LOCAL_SIGNING_KEY_FILE);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.readFileSync(file, 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    expect(first.publicJwk).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' });
    expect(first.publicJwk).not.toHaveProperty('d');
    expect(loadOrCreateLocalSigningKey(dataDir).publicJwk.kid).toBe(first.publicJwk.kid);
  });

  test('When the key file is readable by others, then it is refused with the chmod to run', () => {
    loadOrCreateLocalSigningKey(dataDir);
    fs.chmodSync(path.join(dataDir, LOCAL_SIGNING_KEY_FILE), 0o644);
    expect(() => loadOrCreateLocalSigningKey(dataDir)).toThrow(/chmod 600/);
  });

  test('When a minted token is presented, then the local verifier yields its subject, name and roles', async () => {
    const principal = await localVerifier(dataDir).verify(bearer(await mint(dataDir, { roles: ['Technician.contoso', 'MspAdmin'] })));
    expect(principal).toEqual<Principal>({ subject: 'tech-1', name: 'Tech One', mspAdmin: true, tenants: new Set(['contoso']) });
  });

  test.each<{ name: string; present: (dir: string, otherDir: string) => Promise<string>; verifierAt?: Date; description: RegExp }>([
    { name: 'signed by another local key', present: (_dir, otherDir) => mint(otherDir), description: /signature does not verify/ },
    { name: 'minted for another audience', present: (dir) => mint(dir, { audience: 'someone-else' }), description: /not meant for this API/ },
    { name: 'minted by another issuer', present: (dir) => mint(dir, { issuer: 'not-certops' }), description: /trusted issuer/ },
    { name: 'expired (1 h token checked 2 h later)', present: (dir) => mint(dir), verifierAt: new Date(NOW.getTime() + 2 * 3600_000), description: /has expired/ },
    { name: 'an Entra RS256 token', present: () => anEntraToken(), description: /algorithm is not accepted/ },
  ])('When the local verifier is shown a token $name, then 401', async ({ present, verifierAt, description }) => {
    const otherDir = fs.mkdtempSync(path.join(os.tmpdir(), 'certops-api-auth-other-'));
    try {
      const token = await present(dataDir, otherDir);
      const err = await refusal(localVerifier(dataDir, verifierAt ? fixedClock(verifierAt) : clock), bearer(token));
      expect(err.wwwAuthenticate).toMatch(description);
    } finally {
      fs.rmSync(otherDir, { recursive: true, force: true });
    }
  });

  test('When a local token is shown to the Entra verifier, then 401 (ES256 under a local key is never an Entra token)', async () => {
    expect((await refusal(verifier, bearer(await mint(dataDir)))).wwwAuthenticate).toMatch(/algorithm is not accepted/);
  });

  test.each([
    { name: 'an unknown role', overrides: { roles: ['Technician.Contoso'] }, message: /unknown role/ },
    { name: 'a ttl over 7 days', overrides: { ttlSeconds: 8 * 86_400 }, message: /1 to 604800 seconds/ },
    { name: 'an empty subject', overrides: { subject: ' ' }, message: /needs a subject/ },
  ])('When minting with $name, then nothing is signed', async ({ overrides, message }) => {
    await expect(mint(dataDir, overrides)).rejects.toThrow(message);
  });

  function capture(): { out: Writable; text: () => string } {
    const chunks: string[] = [];
    return {
      out: new Writable({
        write(chunk, _encoding, done) {
          chunks.push(String(chunk));
          done();
        },
      }),
      text: () => chunks.join(''),
    };
  }

  test.each<{ name: string; argv: string[]; expected: Partial<Principal>; lifetimeSec: number }>([
    { name: 'two tenants for 8 h', argv: ['--sub', 'alice', '--name', 'Alice', '--tenant', 'contoso', '--tenant', 'fabrikam', '--ttl', '8h'], expected: { subject: 'alice', name: 'Alice', mspAdmin: false, tenants: new Set(['contoso', 'fabrikam']) }, lifetimeSec: 8 * 3600 },
    { name: 'an MSP admin with the default ttl', argv: ['--sub', 'bob', '--admin'], expected: { subject: 'bob', name: null, mspAdmin: true, tenants: new Set() }, lifetimeSec: 3600 },
  ])('When "certops token" is run for $name, then it prints only a token the local verifier accepts', async ({ argv, expected, lifetimeSec }) => {
    const { out, text } = capture();
    expect(await tokenCommand(argv, dataDir, out, { clock })).toBe(0);
    expect(text()).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    const token = text().trim();
    expect(await localVerifier(dataDir).verify(bearer(token))).toEqual(expected);
    const { exp, iat } = jose.decodeJwt(token);
    expect((exp ?? 0) - (iat ?? 0)).toBe(lifetimeSec);
  });

  test.each([
    { name: 'no --sub', argv: ['--admin'] },
    { name: 'both --admin and --tenant', argv: ['--sub', 'x', '--admin', '--tenant', 'contoso'] },
    { name: 'neither --admin nor --tenant', argv: ['--sub', 'x'] },
    { name: 'a tenant id that is not one', argv: ['--sub', 'x', '--tenant', 'Contoso'] },
    { name: 'a ttl in words', argv: ['--sub', 'x', '--admin', '--ttl', '8 hours'] },
    { name: 'a ttl over 7 days', argv: ['--sub', 'x', '--admin', '--ttl', '30d'] },
    { name: 'an unknown option', argv: ['--sub', 'x', '--admin', '--forever'] },
  ])('When "certops token" is given $name, then it exits 2 with the usage and mints nothing', async ({ argv }) => {
    const { out, text } = capture();
    expect(await tokenCommand(argv, dataDir, out, { clock })).toBe(2);
    expect(text()).toMatch(/usage:\n\s+certops token/);
    expect(text()).not.toMatch(/eyJ/);
    expect(fs.existsSync(path.join(dataDir, LOCAL_SIGNING_KEY_FILE))).toBe(false);
  });
});
