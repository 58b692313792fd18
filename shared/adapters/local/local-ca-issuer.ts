/**
 * LocalCaIssuer: certops's own private CA, one per tenant (as cert-manager's CA issuer, except
 * that certops creates the CA itself on first use instead of reading it from a Secret).
 *
 * Observes: certificate requests for tenants whose managed certificates name issuer 'local-ca'.
 * Decides: nothing beyond validity clamping; it signs what it is asked for.
 *
 * The CA is an EC P-256 root valid for ten years. Its private key and certificate live in the
 * KeyStore (encrypted at rest by that adapter) under `local-ca/key` and `local-ca/cert`; they are
 * never written anywhere else and never logged.
 *
 * Concurrency: CA creation is guarded by an in-process promise cache per tenant, so concurrent
 * first calls in ONE process create one CA; across processes (three `certops run` at once, two
 * Functions instances) the creators hold an election through the store's atomic `claim`: one
 * creates and stores the CA, the others wait for it and use what is stored. Without the election
 * the last writer won and the certificates signed by the losers stopped chaining.
 *
 * Revocation: none, on purpose. This CA publishes no CRL and runs no OCSP responder (its
 * certificates carry no CRL distribution point or AIA OCSP URL, RFC 5280 §4.2.1.13, §4.2.2.1), so
 * no relying party could learn of a revocation. `revoke` is therefore left undefined (the rotation
 * records 'issuer-cannot-revoke'); answering 'not-ours' would be false, since it did issue the
 * certificate. A compromised key is handled by replacing the certificate and deleting the old key.
 */
import { X509Certificate } from 'node:crypto';
import type { Clock } from '../../domain/clock';
import { MS_PER_DAY } from '../../domain/clock';
import { NeedsHumanError, PermanentError } from '../../domain/errors';
import type { CertificateRequest, IssuedCertificate, Issuer, IssueOptions } from '../../ports/issuer';
import type { KeyStore } from '../../ports/key-store';
import { createCertificate, generateKeyPair, importKeyPair, type KeyPair } from './certificate-factory';

/** KeyStore names of the CA material (per tenant). */
export const LOCAL_CA_KEY_NAME = 'local-ca/key';
export const LOCAL_CA_CERT_NAME = 'local-ca/cert';
/** KeyStore name of the certificate last issued under an idempotency key, until released. */
export function issuedUnderKeyName(certificateId: string): string {
  return `local-ca/issued/${certificateId}`;
}

interface KeptIssuance {
  idempotencyKey: string;
  /** What was asked for: a changed request under the same key is signed anew. */
  request: string;
  issued: IssuedCertificate;
}

function requestIdentity(r: CertificateRequest): string {
  return JSON.stringify([r.commonName, [...r.dnsNames].sort(), [...r.ipAddresses].sort(), r.keyType, r.validityDays]);
}

/** Ten years, as cert-manager's self-signed bootstrap CAs commonly are; the CA is never rotated automatically. */
const CA_VALIDITY_DAYS = 3650;
/** Backdate notBefore by a minute so that clients with a slightly slow clock accept a fresh leaf. */
const CLOCK_SKEW_MS = 60_000;

interface CaMaterial {
  certificatePem: string;
  key: KeyPair;
  notAfter: Date;
}

/** The store's atomic claims (CertificateStore.claim), for the cross-process CA election. */
export interface CaCreationClaims {
  claim(tenantId: string, key: string): Promise<boolean>;
}

/** How long a loser of the CA election waits for the winner to store the CA (creating one takes milliseconds). */
const CA_ELECTION_WAIT_MS = 10_000;
const CA_ELECTION_POLL_MS = 50;
/**
 * Each round of the election has its own claim, never given back: a round whose winner died is
 * followed by the next round, and no late waiter can free a claim another process has just won.
 */
const CA_ELECTION_ROUNDS = 3;
const caCreationClaim = (round: number) => `create:local-ca:${round}`;

export interface LocalCaIssuerOptions {
  keyStore: KeyStore;
  clock: Clock;
  /** Cross-process election of the CA's creator; without it only one process may share the KeyStore. */
  claims?: CaCreationClaims;
  electionWaitMs?: number;
}

export class LocalCaIssuer implements Issuer {
  readonly name = 'local-ca';
  private readonly cas = new Map<string, Promise<CaMaterial>>();

  constructor(private readonly options: LocalCaIssuerOptions) {}

  /**
   * Signs a new leaf for `request` with a fresh key of `request.keyType`. With an
   * `idempotencyKey`, the leaf and its key are kept (encrypted, in the KeyStore) before they are
   * returned, and the same key gets them back until `release`. Throws PermanentError for a request
   * that can never be signed (no names, non-positive validity); notAfter is clamped to the CA's
   * notAfter, because a leaf that outlives its issuer fails path validation (RFC 5280 §6.1.3 (a)(2)).
   */
  async issue(request: CertificateRequest, options: IssueOptions = {}): Promise<IssuedCertificate> {
    validate(request);
    options.abortSignal?.throwIfAborted();
    const keyStore = this.options.keyStore;
    const keptName = issuedUnderKeyName(request.certificateId);
    if (options.idempotencyKey) {
      const kept = await keyStore.get(request.tenantId, keptName);
      const parsed = kept ? (JSON.parse(kept) as KeptIssuance) : null;
      if (parsed?.idempotencyKey === options.idempotencyKey && parsed.request === requestIdentity(request)) return parsed.issued;
    }
    const issued = await this.sign(request, options);
    if (options.idempotencyKey) {
      await keyStore.put(request.tenantId, keptName, JSON.stringify({ idempotencyKey: options.idempotencyKey, request: requestIdentity(request), issued } satisfies KeptIssuance));
    }
    return issued;
  }

  async release(tenantId: string, certificateId: string, idempotencyKey: string): Promise<void> {
    const name = issuedUnderKeyName(certificateId);
    const kept = await this.options.keyStore.get(tenantId, name);
    if (kept && (JSON.parse(kept) as KeptIssuance).idempotencyKey === idempotencyKey) await this.options.keyStore.delete(tenantId, name);
  }

  private async sign(request: CertificateRequest, options: IssueOptions): Promise<IssuedCertificate> {
    const ca = await this.ca(request.tenantId);
    const key = await generateKeyPair(request.keyType);
    options.abortSignal?.throwIfAborted();

    const now = this.options.clock.now().getTime();
    // X.509 times have one-second precision (RFC 5280 §4.1.2.5): truncate so the ISO strings we
    // return are exactly what the certificate says.
    const notBefore = wholeSeconds(now - CLOCK_SKEW_MS);
    const notAfter = wholeSeconds(Math.min(now + request.validityDays * MS_PER_DAY, ca.notAfter.getTime()));
    const leaf = await createCertificate({
      subject: `CN=${escapeDnValue(request.commonName)}`,
      dnsNames: request.dnsNames,
      ipAddresses: request.ipAddresses,
      notBefore,
      notAfter,
      key,
      issuer: { certificatePem: ca.certificatePem, key: ca.key },
    });
    return {
      certificatePem: leaf.certificatePem,
      chainPem: ca.certificatePem,
      privateKeyPem: key.privateKeyPem,
      fingerprintSha256: new X509Certificate(leaf.certificatePem).fingerprint256.replace(/:/g, '').toLowerCase(),
      notBefore: notBefore.toISOString(),
      notAfter: notAfter.toISOString(),
    };
  }

  /** The tenant's CA certificate (created on first use, like `issue`). */
  async trustAnchorsPem(tenantId: string): Promise<string[]> {
    return [(await this.ca(tenantId)).certificatePem];
  }

  /** Loads or creates the tenant's CA once per process; a failed attempt is forgotten so the next call retries. */
  private ca(tenantId: string): Promise<CaMaterial> {
    let pending = this.cas.get(tenantId);
    if (!pending) {
      pending = this.loadOrCreate(tenantId);
      this.cas.set(tenantId, pending);
      pending.catch(() => this.cas.delete(tenantId));
    }
    return pending;
  }

  /**
   * The stored CA, or one created by the winner of the election (this process, or another one
   * that this one waits for). A winner that died before storing the CA is replaced once the
   * losers have waited `electionWaitMs`.
   */
  private async loadOrCreate(tenantId: string): Promise<CaMaterial> {
    const claims = this.options.claims;
    for (let round = 0; round < CA_ELECTION_ROUNDS; round++) {
      const stored = await this.load(tenantId);
      if (stored) return stored;
      if (!claims || (await claims.claim(tenantId, caCreationClaim(round)))) {
        await this.create(tenantId);
        return (await this.load(tenantId))!; // what is stored is the CA, whoever wrote last
      }
      const deadline = Date.now() + (this.options.electionWaitMs ?? CA_ELECTION_WAIT_MS);
      while (Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, CA_ELECTION_POLL_MS));
        const created = await this.load(tenantId);
        if (created) return created;
      }
      // The winner never stored it (it died between its claim and its writes): the next round.
    }
    throw new NeedsHumanError(`local CA of tenant ${tenantId}: no process managed to create it; check the key store`);
  }

  /** The stored CA; null when none is stored yet (or only a key left by a crash before its certificate). */
  private async load(tenantId: string): Promise<CaMaterial | null> {
    const { keyStore } = this.options;
    const [keyPem, certificatePem] = await Promise.all([
      keyStore.get(tenantId, LOCAL_CA_KEY_NAME),
      keyStore.get(tenantId, LOCAL_CA_CERT_NAME),
    ]);
    if (certificatePem && !keyPem) {
      // The key is written before the certificate, so this is damage, not a crash mid-creation.
      throw new NeedsHumanError(
        `local CA of tenant ${tenantId}: the certificate is stored but its key is missing; ` +
          `restore '${LOCAL_CA_KEY_NAME}' from backup, or delete '${LOCAL_CA_CERT_NAME}' to start a new CA (all leaves must then be reissued)`,
      );
    }
    if (keyPem && certificatePem) {
      const key = await importKeyPair('ec-p256', keyPem, certificatePem);
      return { certificatePem, key, notAfter: new Date(new X509Certificate(certificatePem).validTo) };
    }
    return null;
  }

  private async create(tenantId: string): Promise<void> {
    const now = this.options.clock.now().getTime();
    const key = await generateKeyPair('ec-p256');
    const notAfter = wholeSeconds(now + CA_VALIDITY_DAYS * MS_PER_DAY);
    const ca = await createCertificate({
      subject: `CN=${escapeDnValue(`certops local CA (${tenantId})`)}`,
      notBefore: wholeSeconds(now - CLOCK_SKEW_MS),
      notAfter,
      isCA: true,
      key,
    });
    // Key first: a crash between the two writes leaves a key without a certificate, which the
    // next start overwrites; the reverse order could leave a certificate nobody can sign for.
    await this.options.keyStore.put(tenantId, LOCAL_CA_KEY_NAME, key.privateKeyPem);
    await this.options.keyStore.put(tenantId, LOCAL_CA_CERT_NAME, ca.certificatePem);
  }
}

function validate(request: CertificateRequest): void {
  const problems: string[] = [];
  if (request.dnsNames.length + request.ipAddresses.length === 0) problems.push('no dnsNames or ipAddresses');
  if (!Number.isFinite(request.validityDays) || request.validityDays <= 0) problems.push(`validityDays ${request.validityDays} is not positive`);
  if (request.commonName.trim() === '') problems.push('empty commonName');
  if (problems.length > 0) {
    throw new PermanentError(
      `local CA cannot sign certificate ${request.certificateId} of tenant ${request.tenantId}: ${problems.join(', ')}; fix the managed certificate's configuration`,
    );
  }
}

function wholeSeconds(ms: number): Date {
  return new Date(Math.floor(ms / 1000) * 1000);
}

/** RFC 4514 §2.4: escape the characters that would otherwise end or restructure an attribute value. */
function escapeDnValue(value: string): string {
  return value
    .replace(/[\\,+"<>;=]/g, (c) => `\\${c}`)
    .replace(/^[ #]/, (c) => `\\${c}`)
    .replace(/ $/, '\\ ');
}
