/**
 * A local HTTPS stand-in for the Azure Key Vault data plane (api-version 2025-07-01), covering
 * what certops' Key Vault adapters use. Shapes follow the swagger and the REAL recorded responses
 * in tests/fixtures/azure-keyvault (which carry fields the swagger lacks: a bundle's
 * `pending`, a version item's `subject`; unix-second timestamps; nbf 10 minutes before creation).
 *
 * Certificates: create with a policy → pending operation (202); GET …/pending; issuer 'Self'
 * completes by self-signing after `selfSignAfterPolls` polls; issuer 'Unknown' keeps the CSR
 * pending until POST …/pending/merge with an x5c chain whose leaf holds the pending key; import a
 * PEM (policy secret_props.contentType 'application/x-pem-file') or a base64 PKCS#12 with `pwd`;
 * GET a version or the latest; GET …/versions with nextLink paging; PATCH attributes and tags.
 * Every certificate version owns a managed secret of the same name and version holding the PEM or
 * PKCS#12 (with the key only when the policy says exportable, as the real service).
 *
 * Secrets: PUT, GET latest or a version (403 SecretDisabled for a disabled one), PATCH, DELETE
 * (soft delete: the name stays taken, a PUT answers 409 until it is purged), GET/DELETE
 * /deletedsecrets/{name}.
 *
 * Keys (for the audit head signer; shapes of keys.json in the 2025-07-01 swagger): POST
 * /keys/{name}/create (EC P-256 only; every create is a new version), GET /keys/{name}[/{version}]
 * (the public JWK only: `d` never leaves, as in the service), POST /keys/{name}/{version}/sign with
 * ES256 over a SHA-256 digest (`value` base64url; the answer's `value` is r‖s, base64url), refused
 * when the version lacks the `sign` operation or is disabled. Node signs only what it hashes itself,
 * so the stub computes ECDSA over the given digest with the curve arithmetic written out below.
 *
 * Auth: a request without a bearer token gets 401 and the challenge
 * `WWW-Authenticate: Bearer authorization="https://login.microsoftonline.com/TENANT", resource="https://vault.azure.net"`;
 * only the configured token is accepted. Every request is recorded.
 *
 * PKCS#12 is built and read with the openssl CLI (Node has no PKCS#12 codec).
 */
import 'reflect-metadata';
import { execFileSync } from 'node:child_process';
import { X509Certificate, createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, randomUUID, type KeyObject } from 'node:crypto';
import * as fs from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as x509 from '@peculiar/x509';
import type { PipelinePolicy } from '@azure/core-rest-pipeline';
import { createCertificate, generateKeyPair, localhostTlsMaterial, toPem, type KeyPair, type KeySpec } from '../../shared/adapters/local/certificate-factory';
import { createKeyVaultClients, type KeyVaultClients } from '../../shared/adapters/azure/key-vault-clients';
import { FakeCredential } from './fake-credential';

export const STUB_API_VERSION = '2025-07-01';
export const STUB_TENANT = '72f988bf-0000-4000-8000-00000000c0de';
const PEM_TYPE = 'application/x-pem-file';
const PKCS12_TYPE = 'application/x-pkcs12';
const NAME = /^[0-9a-zA-Z-]{1,127}$/;
const NBF_SKEW_S = 600; // recorded: nbf = created - 600 s

export interface KeyVaultStubRequest {
  method: string;
  path: string;
  apiVersion: string | null;
  /** Whether an Authorization header was present (its value is never kept). */
  authorized: boolean;
  body: unknown;
  /** The status the stub answered with (set once answered). */
  status?: number;
}

export interface KeyVaultStubOptions {
  /** The only bearer token accepted (FakeCredential's default). */
  token?: string;
  /** Polls of …/pending answered inProgress before a 'Self' operation completes (recorded: 2). */
  selfSignAfterPolls?: number;
  /** Items per …/versions page when the client sends no maxresults (the service's default is 25). */
  pageSize?: number;
  /** Seconds since the epoch; the stub's clock. */
  nowSeconds?: () => number;
}

interface WirePolicy {
  key_props: { exportable: boolean; kty: string; key_size?: number; crv?: string; reuse_key: boolean };
  secret_props: { contentType: string };
  x509_props: { subject: string; sans?: { dns_names?: string[] }; ekus: string[]; key_usage: string[]; validity_months: number; basic_constraints: { ca: boolean } };
  lifetime_actions: Array<{ trigger: { lifetime_percentage: number }; action: { action_type: string } }>;
  issuer: { name: string };
  attributes: { enabled: boolean; created: number; updated: number };
}

interface CertVersion {
  version: string;
  der: Buffer;
  chain: Buffer[];
  keyPem: string;
  enabled: boolean;
  created: number;
  updated: number;
  tags?: Record<string, string>;
}

interface PendingOperation {
  requestId: string;
  version: string;
  issuer: string;
  key: KeyPair;
  csr: Buffer;
  status: 'inProgress' | 'completed';
  polls: number;
  tags?: Record<string, string>;
}

interface CertEntry {
  versions: CertVersion[];
  policy: WirePolicy;
  pending?: PendingOperation;
}

interface SecretVersion {
  version: string;
  value: string;
  contentType?: string;
  enabled: boolean;
  created: number;
  updated: number;
  tags?: Record<string, string>;
  managed: boolean;
}

interface KeyVersion {
  version: string;
  publicJwk: { kty: 'EC'; crv: 'P-256'; x: string; y: string };
  /** The private scalar: used by `sign` only, never in an answer. */
  d: bigint;
  publicKey: KeyObject;
  keyOps: string[];
  enabled: boolean;
  created: number;
  updated: number;
  tags?: Record<string, string>;
}

interface SecretEntry {
  versions: SecretVersion[];
  deleted?: { on: number };
}

type Answer = { status: number; body?: unknown; headers?: Record<string, string> };

export interface KeyVaultStub {
  url: string;
  caPem: string;
  readonly requests: KeyVaultStubRequest[];
  /** Client options that trust the stub's CA (through the request agent) and accept its challenge. */
  clientOptions(extra?: { maxRetries?: number }): {
    disableChallengeResourceVerification: true;
    additionalPolicies: Array<{ policy: PipelinePolicy; position: 'perCall' }>;
    retryOptions: { maxRetries: number; retryDelayInMs: number };
  };
  /** The next `times` authorized requests get `status` with a Key Vault error body. */
  failNext(status: number, times?: number): void;
  /** Test access to stored state (what the real service would not tell). */
  secretVersions(name: string): Array<{ version: string; enabled: boolean; contentType?: string; tags?: Record<string, string> }>;
  certificateVersions(name: string): Array<{ version: string; enabled: boolean; thumbprint: string }>;
  /** The versions of a key, with their public keys (for tests that verify signatures themselves). */
  keyVersions(name: string): Array<{ version: string; kid: string; publicKeyPem: string; keyOps: string[] }>;
  close(): Promise<void>;
}

export async function startKeyVaultStub(options: KeyVaultStubOptions = {}): Promise<KeyVaultStub> {
  const token = options.token ?? 'certops-test-token';
  const now = options.nowSeconds ?? (() => Math.floor(Date.now() / 1000));
  const selfSignAfterPolls = options.selfSignAfterPolls ?? 1;
  const defaultPageSize = options.pageSize ?? 25;
  const tls = await localhostTlsMaterial('certops test Key Vault stub CA');
  const certs = new Map<string, CertEntry>();
  const secrets = new Map<string, SecretEntry>();
  const keys = new Map<string, KeyVersion[]>();
  const requests: KeyVaultStubRequest[] = [];
  let failures: { status: number; times: number } | null = null;
  let base = '';

  const certId = (name: string, version?: string) => `${base}/certificates/${name}${version ? `/${version}` : ''}`;

  // --- wire shapes -------------------------------------------------------------------------
  const certAttributes = (v: CertVersion, withRecovery = true) => {
    const x = new X509Certificate(v.der);
    return {
      enabled: v.enabled,
      nbf: Math.floor(new Date(x.validFrom).getTime() / 1000),
      exp: Math.floor(new Date(x.validTo).getTime() / 1000),
      created: v.created,
      updated: v.updated,
      ...(withRecovery ? { recoveryLevel: 'Recoverable+Purgeable', recoverableDays: 90 } : {}),
    };
  };
  const policyJson = (name: string, entry: CertEntry) => ({ id: `${certId(name)}/policy`, ...entry.policy });
  const bundle = (name: string, entry: CertEntry, v: CertVersion, withPolicy: boolean) => ({
    id: certId(name, v.version),
    kid: `${base}/keys/${name}/${v.version}`,
    sid: `${base}/secrets/${name}/${v.version}`,
    x5t: x5t(v.der),
    cer: v.der.toString('base64'),
    attributes: certAttributes(v),
    ...(v.tags ? { tags: v.tags } : {}),
    ...(withPolicy ? { policy: policyJson(name, entry) } : {}),
    ...(withPolicy && entry.pending ? { pending: { id: `${certId(name)}/pending` } } : {}),
  });
  const operationJson = (name: string, op: PendingOperation) => ({
    id: `${certId(name)}/pending`,
    issuer: { name: op.issuer },
    csr: op.csr.toString('base64'),
    cancellation_requested: false,
    status: op.status,
    ...(op.status === 'inProgress'
      ? {
          status_details:
            op.issuer === 'Unknown'
              ? 'Pending certificate created. Please Perform Merge to complete the request.'
              : 'Pending certificate created. Certificate request is in progress. This may take some time based on the issuer provider. Please check again later.',
        }
      : { target: certId(name) }),
    request_id: op.requestId,
  });
  const secretJson = (name: string, s: SecretVersion, withValue: boolean) => ({
    ...(withValue ? { value: s.value } : {}),
    ...(s.contentType ? { contentType: s.contentType } : {}),
    id: `${base}/secrets/${name}/${s.version}`,
    ...(s.managed ? { managed: true } : {}),
    attributes: { enabled: s.enabled, created: s.created, updated: s.updated, recoveryLevel: 'Recoverable+Purgeable', recoverableDays: 90 },
    ...(s.tags ? { tags: s.tags } : {}),
    ...(s.managed ? { kid: `${base}/keys/${name}/${s.version}` } : {}),
  });

  // --- certificate versions and their managed secrets --------------------------------------
  const addVersion = (name: string, entry: CertEntry, version: string, der: Buffer, chain: Buffer[], keyPem: string, tags?: Record<string, string>): CertVersion => {
    const t = now();
    const v: CertVersion = { version, der, chain, keyPem, enabled: true, created: t, updated: t, tags };
    entry.versions.push(v);
    const exportable = entry.policy.key_props.exportable;
    const pems = [der, ...chain].map((d) => toPem(d, 'CERTIFICATE')).join('');
    const contentType = entry.policy.secret_props.contentType;
    const value = contentType === PEM_TYPE ? `${exportable ? keyPem : ''}${pems}` : buildPkcs12(exportable ? keyPem : null, pems);
    const s = secrets.get(name) ?? { versions: [] };
    s.versions.push({ version, value, contentType, enabled: true, created: t, updated: t, tags, managed: true });
    secrets.set(name, s);
    return v;
  };
  const latestCompleted = (entry: CertEntry) => entry.versions[entry.versions.length - 1];

  const completeSelfSigned = async (name: string, entry: CertEntry, op: PendingOperation) => {
    const t = now();
    const months = entry.policy.x509_props.validity_months;
    const issued = await createCertificate({
      subject: normalizeSubject(entry.policy.x509_props.subject),
      dnsNames: entry.policy.x509_props.sans?.dns_names,
      notBefore: new Date((t - NBF_SKEW_S) * 1000),
      notAfter: new Date((t + Math.round((months * 365) / 12) * 86_400) * 1000),
      key: op.key,
    });
    addVersion(name, entry, op.version, issued.der, [], op.key.privateKeyPem, op.tags);
    op.status = 'completed';
  };

  // --- handlers -----------------------------------------------------------------------------
  const createCertificateOp = async (name: string, body: Record<string, unknown>): Promise<Answer> => {
    const existing = certs.get(name);
    if (existing?.pending?.status === 'inProgress') {
      return kvError(409, 'Conflict', `Certificate ${name} is currently being created or is pending merge.`);
    }
    const policy = normalizePolicy(body.policy, now(), 'Self');
    if (typeof policy === 'string') return kvError(400, 'BadParameter', policy);
    if (!['Self', 'Unknown'].includes(policy.issuer.name)) {
      return kvError(400, 'BadParameter', `Issuer ${policy.issuer.name} is not configured in this vault (the stub knows Self and Unknown).`);
    }
    const key = await generateKeyPair(keySpecOf(policy));
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({
      name: normalizeSubject(policy.x509_props.subject),
      keys: key.keys,
      signingAlgorithm: key.spec.startsWith('ec') ? { name: 'ECDSA', hash: 'SHA-256' } : { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
      extensions: policy.x509_props.sans?.dns_names?.length
        ? [new x509.SubjectAlternativeNameExtension(policy.x509_props.sans.dns_names.map((value) => ({ type: 'dns' as const, value })))]
        : [],
    });
    const entry: CertEntry = existing ?? { versions: [], policy };
    entry.policy = policy;
    const op: PendingOperation = {
      requestId: hexId(),
      version: hexId(),
      issuer: policy.issuer.name,
      key,
      csr: Buffer.from(csr.rawData),
      status: 'inProgress',
      polls: 0,
      tags: body.tags as Record<string, string> | undefined,
    };
    entry.pending = op;
    certs.set(name, entry);
    return {
      status: 202,
      body: operationJson(name, op),
      headers: { Location: `${certId(name)}/pending?api-version=${STUB_API_VERSION}&request_id=${op.requestId}`, 'Retry-After': '10' },
    };
  };

  const getPending = async (name: string): Promise<Answer> => {
    const entry = certs.get(name);
    const op = entry?.pending;
    if (!entry || !op) return kvError(404, 'PendingCertificateNotFound', `Pending certificate not found: ${name}`);
    if (op.status === 'inProgress' && op.issuer === 'Self' && ++op.polls > selfSignAfterPolls) await completeSelfSigned(name, entry, op);
    return { status: 200, body: operationJson(name, op) };
  };

  const merge = (name: string, body: { x5c?: string[]; tags?: Record<string, string> }): Answer => {
    const entry = certs.get(name);
    const op = entry?.pending;
    if (!entry || !op || op.status !== 'inProgress') return kvError(404, 'PendingCertificateNotFound', `Pending certificate not found: ${name}`);
    if (!Array.isArray(body.x5c) || body.x5c.length === 0) return kvError(400, 'BadParameter', 'Property x5c has invalid value');
    const ders = body.x5c.map((b) => Buffer.from(b, 'base64'));
    if (!samePublicKey(ders[0], op.key.privateKeyPem)) {
      return kvError(400, 'BadParameter', "Public key from x509 certificate and key of this instance doesn't match");
    }
    const v = addVersion(name, entry, op.version, ders[0], ders.slice(1), op.key.privateKeyPem, body.tags ?? op.tags);
    op.status = 'completed';
    return { status: 201, body: bundle(name, entry, v, true) };
  };

  const importCert = (name: string, body: { value?: string; pwd?: string; policy?: unknown; tags?: Record<string, string> }): Answer => {
    const given = body.policy as { secret_props?: { contentType?: string } } | undefined;
    const contentType = given?.secret_props?.contentType ?? PKCS12_TYPE;
    let pemText: string;
    if (contentType === PEM_TYPE) {
      pemText = body.value ?? '';
    } else {
      try {
        pemText = readPkcs12(Buffer.from(body.value ?? '', 'base64'), body.pwd ?? '');
      } catch {
        return kvError(400, 'BadParameter', 'The specified PKCS#12 X.509 certificate content can not be read. Please check if certificate is in valid PKCS#12 format.');
      }
    }
    const parsed = splitPem(pemText);
    if (!parsed.key || parsed.certs.length === 0) {
      return kvError(400, 'BadParameter', 'The specified X.509 certificate content is invalid: it must contain the certificate and its private key.');
    }
    const leafIndex = parsed.certs.findIndex((d) => samePublicKey(d, parsed.key!));
    if (leafIndex < 0) return kvError(400, 'BadParameter', 'Private key and certificate do not match.');
    const [leaf] = parsed.certs.splice(leafIndex, 1);
    const t = now();
    const existing = certs.get(name);
    const derived = derivedPolicy(leaf, parsed.key, contentType, t);
    const entry: CertEntry = existing ?? { versions: [], policy: derived };
    if (given || !existing) entry.policy = { ...derived, key_props: { ...derived.key_props, exportable: true } };
    certs.set(name, entry);
    const v = addVersion(name, entry, hexId(), leaf, parsed.certs, parsed.key, body.tags);
    return { status: 200, body: bundle(name, entry, v, true) };
  };

  const getCert = (name: string, version: string): Answer => {
    const entry = certs.get(name);
    if (!entry) return notFoundCert(name);
    if (version === '') {
      const v = latestCompleted(entry);
      if (v) return { status: 200, body: bundle(name, entry, v, true) };
      // Only a pending version: the bundle has no certificate yet (the SDK reads it before …/pending).
      return {
        status: 200,
        body: { id: certId(name, entry.pending!.version), attributes: { enabled: false, created: now(), updated: now() }, policy: policyJson(name, entry), pending: { id: `${certId(name)}/pending` } },
      };
    }
    const v = entry.versions.find((x) => x.version === version);
    return v ? { status: 200, body: bundle(name, entry, v, false) } : notFoundCert(`${name}/${version}`);
  };

  const listVersions = (name: string, url: URL): Answer => {
    const entry = certs.get(name);
    const size = Number(url.searchParams.get('maxresults') ?? defaultPageSize);
    const skip = Number(url.searchParams.get('$skiptoken') ?? 0);
    const all = entry?.versions ?? [];
    const page = all.slice(skip, skip + size);
    const next = skip + size < all.length ? `${certId(name)}/versions?api-version=${STUB_API_VERSION}&$skiptoken=${skip + size}&maxresults=${size}` : null;
    return {
      status: 200,
      body: {
        value: page.map((v) => ({ id: certId(name, v.version), x5t: x5t(v.der), attributes: certAttributes(v, false), ...(v.tags ? { tags: v.tags } : {}), subject: '' })),
        nextLink: next,
      },
    };
  };

  const patchCert = (name: string, version: string, body: { attributes?: { enabled?: boolean }; tags?: Record<string, string> }): Answer => {
    const entry = certs.get(name);
    const v = version === '' ? entry && latestCompleted(entry) : entry?.versions.find((x) => x.version === version);
    if (!entry || !v) return notFoundCert(name);
    if (typeof body.attributes?.enabled === 'boolean') v.enabled = body.attributes.enabled;
    if (body.tags) v.tags = body.tags;
    v.updated = now();
    // The certificate's attributes carry over to its managed secret (and key).
    const s = secrets.get(name)?.versions.find((x) => x.version === v.version);
    if (s) {
      s.enabled = v.enabled;
      s.updated = v.updated;
    }
    return { status: 200, body: bundle(name, entry, v, true) };
  };

  const putSecret = (name: string, body: { value?: unknown; contentType?: string; tags?: Record<string, string>; attributes?: { enabled?: boolean } }): Answer => {
    if (typeof body.value !== 'string') return kvError(400, 'BadParameter', 'Property value has invalid value');
    const entry = secrets.get(name) ?? { versions: [] };
    if (entry.deleted) {
      return kvError(409, 'Conflict', `Secret ${name} is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the secret can only be recovered or purged.`);
    }
    const t = now();
    const s: SecretVersion = { version: hexId(), value: body.value, contentType: body.contentType, enabled: body.attributes?.enabled ?? true, created: t, updated: t, tags: body.tags, managed: false };
    entry.versions.push(s);
    secrets.set(name, entry);
    return { status: 200, body: secretJson(name, s, true) };
  };

  const liveSecret = (name: string) => {
    const entry = secrets.get(name);
    return entry && !entry.deleted ? entry : undefined;
  };
  const notFoundSecret = (name: string) =>
    kvError(404, 'SecretNotFound', `A secret with (name/id) ${name} was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182`);

  const getSecret = (name: string, version: string): Answer => {
    const entry = liveSecret(name);
    const s = version === '' ? entry?.versions[entry.versions.length - 1] : entry?.versions.find((x) => x.version === version);
    if (!s) return notFoundSecret(version ? `${name}/${version}` : name);
    if (!s.enabled) {
      return { status: 403, body: { error: { code: 'Forbidden', message: 'Operation get is not allowed on a disabled secret.', innererror: { code: 'SecretDisabled' } } } };
    }
    return { status: 200, body: secretJson(name, s, true) };
  };

  const patchSecret = (name: string, version: string, body: { contentType?: string; tags?: Record<string, string>; attributes?: { enabled?: boolean } }): Answer => {
    const entry = liveSecret(name);
    const s = version === '' ? entry?.versions[entry.versions.length - 1] : entry?.versions.find((x) => x.version === version);
    if (!s) return notFoundSecret(name);
    if (typeof body.attributes?.enabled === 'boolean') s.enabled = body.attributes.enabled;
    if (body.contentType !== undefined) s.contentType = body.contentType;
    if (body.tags) s.tags = body.tags;
    s.updated = now();
    return { status: 200, body: secretJson(name, s, false) };
  };

  // --- keys ---------------------------------------------------------------------------------
  const keyId = (name: string, version: string) => `${base}/keys/${name}/${version}`;
  const keyBundle = (name: string, k: KeyVersion) => ({
    key: { kid: keyId(name, k.version), kty: 'EC', key_ops: k.keyOps, crv: 'P-256', x: k.publicJwk.x, y: k.publicJwk.y },
    attributes: { enabled: k.enabled, created: k.created, updated: k.updated, recoveryLevel: 'Recoverable+Purgeable', recoverableDays: 90, exportable: false },
    ...(k.tags ? { tags: k.tags } : {}),
  });
  const notFoundKey = (name: string) =>
    kvError(404, 'KeyNotFound', `A key with (name/id) ${name} was not found in this key vault. If you recently deleted this key you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182`);
  const findKey = (name: string, version: string) => {
    const versions = keys.get(name) ?? [];
    return version ? versions.find((k) => k.version === version) : versions[versions.length - 1];
  };

  const createKey = (name: string, body: { kty?: string; crv?: string; key_ops?: string[]; attributes?: { enabled?: boolean }; tags?: Record<string, string> }): Answer => {
    if (body.kty !== 'EC' && body.kty !== 'EC-HSM') return kvError(400, 'BadParameter', `The stub creates EC keys only (kty ${String(body.kty)}).`);
    if ((body.crv ?? 'P-256') !== 'P-256') return kvError(400, 'BadParameter', `The stub creates P-256 keys only (crv ${String(body.crv)}).`);
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = privateKey.export({ format: 'jwk' }) as { x: string; y: string; d: string };
    const t = now();
    const k: KeyVersion = {
      version: hexId(),
      publicJwk: { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y },
      d: BigInt(`0x${Buffer.from(jwk.d, 'base64url').toString('hex')}`),
      publicKey,
      keyOps: body.key_ops ?? ['sign', 'verify'],
      enabled: body.attributes?.enabled ?? true,
      created: t,
      updated: t,
      tags: body.tags,
    };
    keys.set(name, [...(keys.get(name) ?? []), k]);
    return { status: 200, body: keyBundle(name, k) };
  };

  const getKey = (name: string, version: string): Answer => {
    const k = findKey(name, version);
    return k ? { status: 200, body: keyBundle(name, k) } : notFoundKey(version ? `${name}/${version}` : name);
  };

  const signWithKey = (name: string, version: string, body: { alg?: string; value?: string }): Answer => {
    const k = findKey(name, version);
    if (!k || !version) return notFoundKey(`${name}/${version}`);
    if (!k.enabled) return kvError(403, 'Forbidden', `Operation sign is not allowed on a disabled key.`);
    if (!k.keyOps.includes('sign')) return kvError(403, 'Forbidden', `Operation sign is not permitted on this key.`);
    if (body.alg !== 'ES256') return kvError(400, 'BadParameter', `Invalid algorithm ${String(body.alg)} for key type EC P-256 (the stub signs ES256).`);
    const digest = Buffer.from(body.value ?? '', 'base64url');
    if (digest.length !== 32) return kvError(400, 'BadParameter', 'The digest of an ES256 signature is 32 bytes (SHA-256).');
    return { status: 200, body: { kid: keyId(name, k.version), value: ecdsaP256Sign(k.d, digest).toString('base64url') } };
  };

  const deletedSecretJson = (name: string, entry: SecretEntry) => ({
    recoveryId: `${base}/deletedsecrets/${name}`,
    deletedDate: entry.deleted!.on,
    scheduledPurgeDate: entry.deleted!.on + 90 * 86_400,
    ...secretJson(name, entry.versions[entry.versions.length - 1], false),
  });

  const route = async (method: string, url: URL, body: unknown): Promise<Answer> => {
    const segments = url.pathname.split('/').slice(1).map(decodeURIComponent);
    const [collection, name, third, fourth] = segments;
    if (name !== undefined && !NAME.test(name)) return kvError(400, 'BadParameter', `The request URI contains an invalid name: ${name}`);
    const b = (body ?? {}) as Record<string, unknown>;
    if (collection === 'certificates' && name) {
      if (third === 'create' && method === 'POST') return createCertificateOp(name, b);
      if (third === 'import' && method === 'POST') return importCert(name, b);
      if (third === 'pending' && fourth === 'merge' && method === 'POST') return merge(name, b);
      if (third === 'pending' && fourth === undefined && method === 'GET') return getPending(name);
      if (third === 'versions' && method === 'GET') return listVersions(name, url);
      if (third === 'policy' && method === 'GET') return certs.has(name) ? { status: 200, body: policyJson(name, certs.get(name)!) } : notFoundCert(name);
      if (segments.length <= 3 && method === 'GET') return getCert(name, third ?? '');
      if (segments.length <= 3 && method === 'PATCH') return patchCert(name, third ?? '', b);
    }
    if (collection === 'secrets' && name) {
      if (segments.length === 2 && method === 'PUT') return putSecret(name, b);
      if (segments.length === 2 && method === 'DELETE') {
        const entry = liveSecret(name);
        if (!entry) return notFoundSecret(name);
        entry.deleted = { on: now() };
        return { status: 200, body: deletedSecretJson(name, entry) };
      }
      if (segments.length <= 3 && method === 'GET') return getSecret(name, third ?? '');
      if (segments.length <= 3 && method === 'PATCH') return patchSecret(name, third ?? '', b);
    }
    if (collection === 'keys' && name) {
      if (third === 'create' && fourth === undefined && method === 'POST') return createKey(name, b);
      if (fourth === 'sign' && method === 'POST') return signWithKey(name, third ?? '', b);
      if (segments.length <= 3 && method === 'GET') return getKey(name, third ?? '');
    }
    if (collection === 'deletedsecrets' && name) {
      const entry = secrets.get(name);
      if (!entry?.deleted) return kvError(404, 'SecretNotFound', `Deleted Secret not found: ${name}`);
      if (method === 'GET') return { status: 200, body: deletedSecretJson(name, entry) };
      if (method === 'DELETE') {
        secrets.delete(name);
        return { status: 204 };
      }
    }
    return kvError(400, 'BadParameter', `The stub does not model ${method} ${url.pathname}`);
  };

  const handle = async (method: string, url: URL, authorization: string | undefined, body: unknown): Promise<Answer> => {
    if (!authorization?.startsWith('Bearer ')) {
      return {
        status: 401,
        body: { error: { code: 'Unauthorized', message: 'AKV10000: Request is missing a Bearer, PoP, or MTLS_POP token.' } },
        headers: { 'WWW-Authenticate': `Bearer authorization="https://login.microsoftonline.com/${STUB_TENANT}", resource="https://vault.azure.net"` },
      };
    }
    if (authorization !== `Bearer ${token}`) return kvError(401, 'Unauthorized', 'AKV10032: Invalid issuer.');
    if (url.searchParams.get('api-version') !== STUB_API_VERSION) {
      return kvError(400, 'BadParameter', `The specified version (${url.searchParams.get('api-version')}) is not recognized. Consider using the latest supported version (${STUB_API_VERSION}).`);
    }
    if (failures && failures.times > 0) {
      failures.times--;
      const status = failures.status;
      const code = status === 429 ? 'Throttled' : status >= 500 ? 'InternalServerError' : status === 403 ? 'Forbidden' : 'BadParameter';
      return { ...kvError(status, code, 'Injected failure.'), headers: { 'Retry-After': '0' } };
    }
    return route(method, url, body);
  };

  const server = https.createServer({ cert: tls.certPem, key: tls.keyPem }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', base);
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown;
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        body = text;
      }
      const record: KeyVaultStubRequest = { method: req.method ?? '', path: url.pathname, apiVersion: url.searchParams.get('api-version'), authorized: req.headers.authorization !== undefined, body };
      requests.push(record);
      handle(req.method ?? '', url, req.headers.authorization, body)
        .catch((err: unknown) => kvError(500, 'InternalServerError', String(err)))
        .then((answer) => {
          record.status = answer.status;
          send(res, answer);
        });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const agent = new https.Agent({ ca: tls.caPem, keepAlive: true });

  return {
    url: base,
    caPem: tls.caPem,
    requests,
    clientOptions: (extra = {}) => ({
      disableChallengeResourceVerification: true,
      additionalPolicies: [
        {
          // Trust the stub's CA for these clients only (not NODE_EXTRA_CA_CERTS, which is process-wide).
          policy: { name: 'trustKeyVaultStub', sendRequest: (request, next) => ((request.agent = agent), next(request)) },
          position: 'perCall',
        },
      ],
      retryOptions: { maxRetries: extra.maxRetries ?? 3, retryDelayInMs: 10 },
    }),
    failNext: (status, times = 1) => {
      failures = { status, times };
    },
    secretVersions: (name) => (secrets.get(name)?.versions ?? []).map((s) => ({ version: s.version, enabled: s.enabled, contentType: s.contentType, tags: s.tags })),
    certificateVersions: (name) => (certs.get(name)?.versions ?? []).map((v) => ({ version: v.version, enabled: v.enabled, thumbprint: x5t(v.der) })),
    keyVersions: (name) =>
      (keys.get(name) ?? []).map((k) => ({ version: k.version, kid: keyId(name, k.version), publicKeyPem: k.publicKey.export({ type: 'spki', format: 'pem' }).toString(), keyOps: k.keyOps })),
    close: () =>
      new Promise<void>((resolve) => {
        agent.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A stub and the real SDK clients pointed at it: what every Key Vault adapter test starts from. */
export interface KeyVaultStubWithClients {
  stub: KeyVaultStub;
  clients: KeyVaultClients;
  /** The credential the clients hold (it counts and records its token requests). */
  credential: FakeCredential;
}

/**
 * Starts a stub and builds the pinned SDK clients for it (createKeyVaultClients) with a
 * FakeCredential; `maxRetries` is the clients' retry count (the stub's default of 3 when absent).
 * Close with `stub.close()`.
 */
export async function startKeyVaultStubWithClients(options: KeyVaultStubOptions & { maxRetries?: number } = {}): Promise<KeyVaultStubWithClients> {
  const { maxRetries, ...stubOptions } = options;
  const stub = await startKeyVaultStub(stubOptions);
  const credential = new FakeCredential(stubOptions.token);
  return { stub, credential, clients: createKeyVaultClients(stub.url, credential, stub.clientOptions({ maxRetries })) };
}

function send(res: import('node:http').ServerResponse, answer: Answer): void {
  const text = answer.body === undefined ? '' : JSON.stringify(answer.body);
  res.writeHead(answer.status, {
    ...(text ? { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': String(Buffer.byteLength(text)) } : { 'Content-Length': '0' }),
    'Cache-Control': 'no-cache',
    'x-ms-keyvault-service-version': '1.9.3070.2',
    ...answer.headers,
  });
  res.end(text);
}

function kvError(status: number, code: string, message: string): Answer {
  return { status, body: { error: { code, message } } };
}

function notFoundCert(name: string): Answer {
  return kvError(
    404,
    'CertificateNotFound',
    `A certificate with (name/id) ${name} was not found in this key vault. If you recently deleted this certificate you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182`,
  );
}

/** 32 lowercase hex digits, like Key Vault's version ids and request ids. */
function hexId(): string {
  return randomUUID().replace(/-/g, '');
}

/** JWS x5t: base64url of the SHA-1 of the DER (RFC 7515 §4.1.7), as Key Vault reports it. */
export function x5t(der: Buffer): string {
  return createHash('sha1').update(der).digest('base64url');
}

/** Key Vault accepts `cn=MyCert`; @peculiar/x509 wants the attribute types upper-case. */
function normalizeSubject(subject: string): string {
  return subject.replace(/(^|,\s*)([a-zA-Z]+)=/g, (_m, sep: string, type: string) => `${sep}${type.toUpperCase()}=`);
}

function keySpecOf(policy: WirePolicy): KeySpec {
  const { kty, key_size: size, crv } = policy.key_props;
  if (kty.startsWith('EC')) return crv === 'P-384' ? 'ec-p384' : 'ec-p256';
  return size === 4096 ? 'rsa-4096' : 'rsa-2048';
}

/** Fills a create request's policy the way the service does (defaults as in the recordings). */
function normalizePolicy(input: unknown, t: number, defaultIssuer: string): WirePolicy | string {
  const p = (input ?? {}) as { key_props?: Record<string, unknown>; secret_props?: { contentType?: string }; x509_props?: Record<string, unknown>; issuer?: { name?: string } };
  const x = p.x509_props ?? {};
  const sans = x.sans as { dns_names?: string[] } | undefined;
  if (typeof x.subject !== 'string' && !sans?.dns_names?.length) return 'Property policy.x509_props.subject has invalid value';
  const kty = (p.key_props?.kty as string | undefined) ?? 'RSA';
  const ec = kty.startsWith('EC');
  const issuer = p.issuer?.name ?? defaultIssuer;
  return {
    key_props: {
      exportable: (p.key_props?.exportable as boolean | undefined) ?? true,
      kty,
      ...(ec ? { crv: (p.key_props?.crv as string | undefined) ?? 'P-256', key_size: p.key_props?.crv === 'P-384' ? 384 : 256 } : { key_size: (p.key_props?.key_size as number | undefined) ?? 2048 }),
      reuse_key: (p.key_props?.reuse_key as boolean | undefined) ?? false,
    },
    secret_props: { contentType: p.secret_props?.contentType ?? PKCS12_TYPE },
    x509_props: {
      subject: (x.subject as string | undefined) ?? '',
      sans: sans ?? {},
      ekus: (x.ekus as string[] | undefined) ?? ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2'],
      key_usage: (x.key_usage as string[] | undefined) ?? ['digitalSignature', 'keyEncipherment'],
      validity_months: (x.validity_months as number | undefined) ?? 12,
      basic_constraints: { ca: false },
    },
    lifetime_actions: [{ trigger: { lifetime_percentage: 80 }, action: { action_type: issuer === 'Self' ? 'AutoRenew' : 'EmailContacts' } }],
    issuer: { name: issuer },
    attributes: { enabled: true, created: t, updated: t },
  };
}

/** The policy an import without one gets (recorded: issuer Unknown, EmailContacts, subject from the certificate). */
function derivedPolicy(leaf: Buffer, keyPem: string, contentType: string, t: number): WirePolicy {
  const cert = new X509Certificate(leaf);
  const key = createPrivateKey(keyPem);
  const ec = key.asymmetricKeyType === 'ec';
  const dns = (cert.subjectAltName ?? '')
    .split(', ')
    .filter((s) => s.startsWith('DNS:'))
    .map((s) => s.slice(4));
  return {
    key_props: ec
      ? { exportable: true, kty: 'EC', crv: key.asymmetricKeyDetails?.namedCurve === 'secp384r1' ? 'P-384' : 'P-256', reuse_key: false }
      : { exportable: true, kty: 'RSA', key_size: key.asymmetricKeyDetails?.modulusLength, reuse_key: false },
    secret_props: { contentType },
    x509_props: {
      subject: cert.subject.split('\n').reverse().join(', '),
      ...(dns.length ? { sans: { dns_names: dns } } : {}),
      ekus: ['1.3.6.1.5.5.7.3.1'],
      key_usage: ['digitalSignature', 'keyEncipherment'],
      validity_months: Math.max(1, Math.round((new Date(cert.validTo).getTime() - new Date(cert.validFrom).getTime()) / (30 * 86_400_000))),
      basic_constraints: { ca: false },
    },
    lifetime_actions: [{ trigger: { lifetime_percentage: 80 }, action: { action_type: 'EmailContacts' } }],
    issuer: { name: 'Unknown' },
    attributes: { enabled: true, created: t, updated: t },
  };
}

function samePublicKey(der: Buffer, keyPem: string): boolean {
  const fromCert = new X509Certificate(der).publicKey.export({ type: 'spki', format: 'der' });
  const fromKey = createPublicKey(createPrivateKey(keyPem)).export({ type: 'spki', format: 'der' });
  return Buffer.compare(fromCert, fromKey) === 0;
}

/** The private key (re-encoded as PKCS#8 PEM) and the certificates (DER, in order) of a PEM text. */
function splitPem(text: string): { key: string | null; certs: Buffer[] } {
  const keyBlock = /-----BEGIN (?:RSA |EC )?PRIVATE KEY-----[\s\S]*?-----END (?:RSA |EC )?PRIVATE KEY-----/.exec(text);
  let key: string | null = null;
  if (keyBlock) {
    try {
      key = createPrivateKey(keyBlock[0]).export({ type: 'pkcs8', format: 'pem' }).toString();
    } catch {
      key = null;
    }
  }
  const certs = [...text.matchAll(/-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g)].map((m) => Buffer.from(m[1].replace(/\s+/g, ''), 'base64'));
  return { key, certs };
}

function withTempDir<T>(fn: (dir: string) => T): T {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kv-stub-p12-'));
  try {
    return fn(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Base64 PKCS#12 (empty password, as Key Vault's own secrets) of the key (when given) and certificates. */
function buildPkcs12(keyPem: string | null, certsPem: string): string {
  return withTempDir((dir) => {
    const input = path.join(dir, 'in.pem');
    fs.writeFileSync(input, `${keyPem ?? ''}${certsPem}`, { mode: 0o600 });
    const out = path.join(dir, 'out.p12');
    execFileSync('openssl', ['pkcs12', '-export', ...(keyPem ? [] : ['-nokeys']), '-in', input, '-passout', 'pass:', '-out', out], { stdio: 'pipe' });
    return fs.readFileSync(out).toString('base64');
  });
}

/** PEM text (key and certificates) of a PKCS#12; throws when it cannot be opened with `password`. */
function readPkcs12(pfx: Buffer, password: string): string {
  return withTempDir((dir) => {
    const input = path.join(dir, 'in.p12');
    fs.writeFileSync(input, pfx, { mode: 0o600 });
    return execFileSync('openssl', ['pkcs12', '-in', input, '-passin', `pass:${password}`, '-nodes'], { stdio: 'pipe' }).toString();
  });
}

// --- ECDSA over a given digest (what Key Vault's sign does; node:crypto hashes what it signs) ---

/** NIST P-256 (FIPS 186-5 / SEC 2 secp256r1). */
const P256 = {
  p: 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn,
  n: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
  g: { x: 0x6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296n, y: 0x4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5n },
};
type Point = { x: bigint; y: bigint } | null;

const mod = (a: bigint, m: bigint) => ((a % m) + m) % m;
function inverse(a: bigint, m: bigint): bigint {
  let [r0, r1, s0, s1] = [mod(a, m), m, 1n, 0n];
  while (r1 !== 0n) {
    const q = r0 / r1;
    [r0, r1, s0, s1] = [r1, r0 - q * r1, s1, s0 - q * s1];
  }
  return mod(s0, m);
}
function add(a: Point, b: Point): Point {
  if (!a) return b;
  if (!b) return a;
  const { p } = P256;
  if (a.x === b.x && mod(a.y + b.y, p) === 0n) return null;
  // a = -3 for P-256: the doubling slope is (3x² - 3) / 2y.
  const slope = a.x === b.x ? mod((3n * a.x * a.x - 3n) * inverse(2n * a.y, p), p) : mod((b.y - a.y) * inverse(b.x - a.x, p), p);
  const x = mod(slope * slope - a.x - b.x, p);
  return { x, y: mod(slope * (a.x - x) - a.y, p) };
}
function multiply(k: bigint, point: Point): Point {
  let result: Point = null;
  for (let addend = point; k > 0n; k >>= 1n, addend = add(addend, addend)) if (k & 1n) result = add(result, addend);
  return result;
}

/** ECDSA (FIPS 186-5 §6.4.1) over a 32-byte digest: r‖s, 64 bytes, as Key Vault returns ES256. */
function ecdsaP256Sign(d: bigint, digest: Buffer): Buffer {
  const { n, g } = P256;
  const e = BigInt(`0x${digest.toString('hex')}`);
  for (;;) {
    const k = mod(BigInt(`0x${randomBytes(40).toString('hex')}`), n - 1n) + 1n; // 320 random bits: negligible bias
    const r = mod(multiply(k, g)!.x, n);
    const s = mod(inverse(k, n) * (e + r * d), n);
    if (r !== 0n && s !== 0n) return Buffer.concat([r, s].map((v) => Buffer.from(v.toString(16).padStart(64, '0'), 'hex')));
  }
}
