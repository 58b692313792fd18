/**
 * AcmeIssuer: the Issuer port over an ACME CA (RFC 8555) through acme-client.
 *
 * Observes: certificate requests for tenants whose policy names issuer 'acme'.
 * Decides: the challenge per authorization (the configured type), when to retry (the schedules
 * below), and which CA problems are permanent.
 *
 * Account: one per tenant and CA. Its EC P-256 key lives in the KeyStore under
 * `acme/<directory host>/account-key`, is created on first use and never logged; every issuance
 * looks the account up with `newAccount` (RFC 8555 §7.3.1 returns the existing account for a
 * known key), which also recreates it when the CA forgot it.
 *
 * Orders in flight (optional `journal`): the order URL is journaled right after newOrder and the
 * CSR's private key (encrypted in the KeyStore under `acme/orders/<certificateId>`) right before
 * finalize; `issue` first continues a journaled order the CA still has, so a crash, an abort or
 * a retry never orders twice. Both are cleared once the certificate is downloaded (with an
 * `idempotencyKey`: once the caller releases it, so a caller that died before recording the
 * certificate gets the same one again), or when the order is gone (404), invalid or refused
 * permanently.
 *
 * Chains: `preferredChain` picks among the CA's alternate chains (RFC 8555 §7.4.2, Link
 * rel="alternate") by the issuer CN of the chain's top certificate; unknown names get the default.
 * ACME profiles are not offered: Debian's Pebble 2.4 predates them, so they could not be tested.
 *
 * Renewal information (RFC 9773): `renewalInfo` reads the CA's suggested window for a certificate
 * (null when the directory has none); `issue(…, { replaces })` names the certificate a renewal
 * replaces in newOrder, and orders once more without it when the CA refuses the field (§5: a CA
 * may reject an order whose `replaces` it does not accept; the renewal itself must not fail for
 * that). Proven against Pebble behind tests/support/acme-front.ts, since Pebble 2.4 has no ARI.
 *
 * Revocation (RFC 8555 §7.6): `revoke` asks the CA, signed by the tenant's account, with the RFC
 * 5280 §5.3.1 reason code. Which certificates are this CA's is decided locally, so a certificate
 * from elsewhere is never sent: every download records the issuing key (the leaf's Authority Key
 * Identifier, RFC 5280 §4.2.1.1; its issuer name when it has none) in the KeyStore under
 * `acme/<directory host>/issuing-key-ids`, kept across restarts and intermediate rotations. A
 * certificate whose issuing key is not among them, or a tenant with no account at the CA, is
 * 'not-ours'. When none is recorded (certificates issued before certops kept them), the CA
 * judges: it refuses what the account did not order.
 *
 * Transport: acme-transport.ts raises AcmeProblemError for the CA's problem documents, so the
 * schedule here decides. badNonce is left to acme-client, which retries at once with the nonce
 * from the error response (RFC 8555 §6.5).
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import * as acme from 'acme-client';
import { ariCertId, parseRenewalInfo, type RenewalWindow } from '../../domain/ari';
import { nameKey, parsePemBundle, type Certificate } from '../../domain/certificate';
import type { Clock } from '../../domain/clock';
import { ConfigError, PermanentError, RetryableError, errorMessage } from '../../domain/errors';
import type { AcmeOrderJournal, AcmeOrderJournalKey, JournaledAcmeOrder } from '../../ports/acme-order-journal';
import type { DnsSolver } from '../../ports/dns-solver';
import type { HttpChallengeResponder } from '../../ports/http-challenge-responder';
import type { CertificateRequest, IssuedCertificate, Issuer, RevocationReason } from '../../ports/issuer';
import type { KeyStore } from '../../ports/key-store';
import { generateKeyPair, toPem } from '../local/certificate-factory';
import { AcmeProblemError, registerOrigin, retryAfterMs } from './acme-transport';
import { abortableSleep, BAD_NONCE_RETRIES, DEFAULT_POLL_BACKOFF, retryDelayMs, toCertopsError } from './acme-retry-policy';

/**
 * RFC 9773: a client fetches renewal information again after its Retry-After. When the CA sends
 * none, six hours (the RFC's own example value, 21600 s) keeps a fleet from polling hard.
 */
export const DEFAULT_RENEWAL_INFO_RETRY_AFTER_MS = 6 * 3_600_000;

/** A CA's renewal information for one certificate (RFC 9773 §4.2). */
export interface RenewalInfo {
  window: RenewalWindow;
  /** When to ask again (Retry-After, or DEFAULT_RENEWAL_INFO_RETRY_AFTER_MS without one). */
  retryAfterMs: number;
  explanationUrl: string | null;
}

/** Options of one issuance: `replaces` is the RFC 9773 CertID of the certificate being renewed. */
export interface AcmeIssueOptions {
  abortSignal?: AbortSignal;
  replaces?: string;
  /**
   * The caller's rotation id: the journaled order (and its CSR key) is kept after the certificate
   * is downloaded, so that a repeated call continues the same, valid, order and gets the same
   * certificate, until `release(…, idempotencyKey)`. Needs a journal.
   */
  idempotencyKey?: string;
}

/** RFC 5280 §5.3.1 CRLReason codes, as RFC 8555 §7.6 carries them in `reason`. */
export const REVOCATION_REASON_CODES: Readonly<Record<RevocationReason, number>> = { keyCompromise: 1, superseded: 4, cessationOfOperation: 5 };

/**
 * Issuing keys remembered per tenant and CA: a CA signs with a handful of intermediates at a time
 * (Let's Encrypt rotates among about ten, yearly); the oldest is forgotten beyond this many, long
 * after its certificates expired.
 */
export const MAX_ISSUING_KEY_IDS = 100;

/** RFC 8555 §7.1.6: the order states from which an order can still yield a certificate. */
const RESUMABLE_ORDER_STATES = new Set(['pending', 'ready', 'processing', 'valid']);

export interface AcmeIssuerOptions {
  directoryUrl: string;
  keyStore: KeyStore;
  clock: Clock;
  challenge: 'http-01' | 'dns-01';
  http?: HttpChallengeResponder;
  dns?: DnsSolver;
  /** External Account Binding (RFC 8555 §7.3.4), as ZeroSSL and Google require. */
  eab?: { kid: string; hmacKey: string };
  contactEmail?: string;
  /** PEM of a CA to trust for the directory's TLS (tests against Pebble only). */
  tlsCa?: string;
  /** Anchors to report from trustAnchorsPem (tests: Pebble's root); public CAs need none. */
  trustAnchors?: string[];
  /**
   * Issuer CN of the top certificate of the preferred chain (RFC 8555 §7.4.2 alternate links),
   * e.g. 'ISRG Root X1'; when no chain matches, the CA's default chain is returned.
   */
  preferredChain?: string;
  /**
   * The certificate profile to order (draft-aaron-acme-profiles, e.g. Let's Encrypt's
   * 'shortlived'); the CA must advertise it in its directory's meta.profiles.
   */
  profile?: string;
  /** Journal of orders in flight: with it, an interrupted issuance resumes its order. */
  journal?: AcmeOrderJournal;
  pollBackoff?: { minMs: number; maxMs: number; attempts: number };
  logger?: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
  /** Waits between retries (tests inject a fast one); honours the abort signal. */
  sleep?: (ms: number, abortSignal?: AbortSignal) => Promise<void>;
}

export { AcmeProblemError } from './acme-transport';
export { BAD_NONCE_RETRIES, DEFAULT_POLL_BACKOFF, RATE_LIMIT_MAX_INLINE_WAIT_MS, TRANSIENT_RETRY_DELAYS_MS } from './acme-retry-policy';

export class AcmeIssuer implements Issuer {
  readonly name = 'acme';
  private readonly accountKeyName: string;
  private readonly accountKeys = new Map<string, Promise<string>>();
  /** Account URLs learnt in this process, per tenant: saves two requests per issuance. */
  private readonly accountUrls = new Map<string, Promise<string>>();
  /** Issuing keys this process already knows to be recorded, per tenant (`tenant|id`). */
  private readonly recordedIssuingKeys = new Set<string>();
  /** Per tenant, the record of issuing keys is updated one write at a time (read, add, put). */
  private readonly issuingKeyWrites = new Map<string, Promise<void>>();
  private readonly sleep: (ms: number, abortSignal?: AbortSignal) => Promise<void>;
  private directoryRead?: Promise<Record<string, unknown>>;

  constructor(private readonly options: AcmeIssuerOptions) {
    const problems: string[] = [];
    if (options.challenge === 'http-01' && !options.http) problems.push('challenge http-01 needs an HttpChallengeResponder (option http)');
    if (options.challenge === 'dns-01' && !options.dns) problems.push('challenge dns-01 needs a DnsSolver (option dns)');
    let host = '';
    try {
      host = new URL(options.directoryUrl).host;
    } catch {
      problems.push(`directoryUrl '${options.directoryUrl}' is not a URL`);
    }
    if (problems.length > 0) throw new ConfigError('acme issuer options', problems);
    this.accountKeyName = `acme/${host}/account-key`;
    this.sleep = options.sleep ?? abortableSleep;
    registerOrigin(new URL(options.directoryUrl).origin, options.tlsCa);
  }

  /** KeyStore name of the account key for this CA (per tenant). */
  get accountKeyStoreName(): string {
    return this.accountKeyName;
  }

  /** KeyStore name of the record of this CA's issuing keys (per tenant), one id a line. */
  get issuingKeyIdsStoreName(): string {
    return this.accountKeyName.replace(/account-key$/, 'issuing-key-ids');
  }

  /**
   * Orders, validates and downloads a certificate for `request.dnsNames` with a fresh local key.
   * Throws PermanentError (with the CA's detail) when the CA refuses or validation fails, and
   * RetryableError for rate limits, CA outages and network failures after the inline retries.
   * With `replaces` (RFC 9773 §5) the newOrder names the renewed certificate; when the CA refuses
   * an order carrying it, the order is placed once more without it (logged), not failed.
   */
  async issue(request: CertificateRequest, options: AcmeIssueOptions = {}): Promise<IssuedCertificate> {
    this.validate(request);
    const { abortSignal } = options;
    // Shared by the attempts: once the CA refused `replaces`, later attempts order without it.
    const ordering = { replaces: options.replaces };
    const started = performance.now();
    let accountLookedUpAgain = false;
    for (let attempt = 0; ; attempt++) {
      abortSignal?.throwIfAborted();
      try {
        const issued = await this.attempt(request, ordering, abortSignal, options.idempotencyKey);
        const durationMs = Math.round(performance.now() - started);
        return { ...issued, provenance: { ca: this.options.directoryUrl, challenge: this.options.challenge, durationMs } };
      } catch (err) {
        abortSignal?.throwIfAborted();
        if (err instanceof AcmeProblemError && err.shortType === 'accountDoesNotExist' && !accountLookedUpAgain && this.accountUrls.delete(request.tenantId)) {
          // The CA forgot the account we remembered (a reset test CA, a deactivated account):
          // look it up again by key at once, once per issuance; this does not count as a retry.
          accountLookedUpAgain = true;
          attempt--;
          continue;
        }
        const mapped = toCertopsError(err, this.options.directoryUrl, request);
        if (mapped instanceof PermanentError) await this.dropOrder(request, await this.options.journal?.get(request).catch(() => null), `refused: ${mapped.message}`);
        const wait = retryDelayMs(err, attempt);
        if (wait === undefined) throw mapped;
        this.options.logger?.warn({ tenantId: request.tenantId, certificateId: request.certificateId, attempt, waitMs: wait, reason: mapped.message }, 'acme issuance retried');
        await this.sleep(wait, abortSignal);
      }
    }
  }

  async trustAnchorsPem(): Promise<string[]> {
    return [...(this.options.trustAnchors ?? [])];
  }

  /**
   * The CA's renewal information for a certificate it issued (RFC 9773 §4.2: an unauthenticated
   * GET of `<renewalInfo>/<CertID>`), or null when the CA's directory offers no `renewalInfo`.
   * Throws PermanentError when the certificate has no AKI or the CA's window is invalid, and
   * AcmeProblemError for the CA's problem documents (e.g. 404 for a certificate it does not know).
   */
  async renewalInfo(certificatePem: string, options: { abortSignal?: AbortSignal } = {}): Promise<RenewalInfo | null> {
    const [leaf] = parsePemBundle(certificatePem);
    if (!leaf) throw new PermanentError('renewalInfo needs a PEM certificate; none was given');
    const certId = ariCertId(leaf.der);
    const base = (await this.directory(options.abortSignal)).renewalInfo;
    if (typeof base !== 'string') return null;
    const response = await acme.axios.get(`${base.replace(/\/+$/, '')}/${certId}`, { signal: options.abortSignal });
    const { window, explanationUrl } = parseRenewalInfo(response.data);
    const retryAfter = retryAfterMs(response.headers['retry-after'], this.options.clock.now()) ?? DEFAULT_RENEWAL_INFO_RETRY_AFTER_MS;
    return { window, retryAfterMs: retryAfter, explanationUrl };
  }

  /**
   * Asks the CA to revoke a certificate it issued to the tenant's account (RFC 8555 §7.6), with the
   * RFC 5280 §5.3.1 reason code. 'not-ours', without a request, when the tenant has no account at
   * this CA or the certificate's issuing key is not one this CA signed with (see the header). The
   * CA's `alreadyRevoked` counts as revoked. Transient failures are retried as issuance is, then
   * thrown as RetryableError; refusals are PermanentError with the CA's detail.
   */
  async revoke(tenantId: string, certificatePem: string, reason: RevocationReason, options: { abortSignal?: AbortSignal } = {}): Promise<'revoked' | 'not-ours'> {
    const { abortSignal } = options;
    const [leaf] = parsePemBundle(certificatePem);
    if (!leaf) throw new PermanentError(`revocation for tenant ${tenantId} needs a PEM certificate; none was given`);
    const about = { tenantId, ca: this.options.directoryUrl, serialNumber: leaf.serialNumber, reason };
    const accountKey = await this.options.keyStore.get(tenantId, this.accountKeyName);
    const known = await this.storedIssuingKeyIds(tenantId);
    const keyId = issuingKeyId(leaf);
    if (!accountKey || (known.size > 0 && !known.has(keyId))) {
      const why = accountKey ? `its issuer (${leaf.issuer}) is not one this CA signs with` : 'the tenant has no account at this CA';
      this.options.logger?.info({ ...about, why }, 'acme revocation not asked: the certificate is not this CA\'s');
      return 'not-ours';
    }
    const operation = {
      what: `ACME revocation of certificate ${leaf.serialNumber} (tenant ${tenantId}, issuer ${leaf.issuer}) at ${this.options.directoryUrl}`,
      whenRefused: 'the certificate stays valid until it expires: revoke it through the CA with the account that ordered it, or its private key',
    };
    let accountLookedUpAgain = false;
    for (let attempt = 0; ; attempt++) {
      abortSignal?.throwIfAborted();
      try {
        const client = this.client(accountKey, await this.accountUrl(tenantId, accountKey));
        await client.revokeCertificate(toPem(leaf.der, 'CERTIFICATE'), { reason: REVOCATION_REASON_CODES[reason] });
        this.options.logger?.info(about, 'acme certificate revoked');
        return 'revoked';
      } catch (err) {
        abortSignal?.throwIfAborted();
        // RFC 8555 §7.6: the CA answers alreadyRevoked for a certificate it revoked before: done.
        if (err instanceof AcmeProblemError && err.shortType === 'alreadyRevoked') {
          this.options.logger?.info({ ...about, detail: err.detail }, 'acme certificate was already revoked');
          return 'revoked';
        }
        if (err instanceof AcmeProblemError && err.shortType === 'accountDoesNotExist' && !accountLookedUpAgain && this.accountUrls.delete(tenantId)) {
          accountLookedUpAgain = true;
          attempt--;
          continue;
        }
        const mapped = toCertopsError(err, this.options.directoryUrl, operation);
        const wait = retryDelayMs(err, attempt);
        if (wait === undefined) throw mapped;
        this.options.logger?.warn({ ...about, attempt, waitMs: wait, why: mapped.message }, 'acme revocation retried');
        await this.sleep(wait, abortSignal);
      }
    }
  }

  /** Forgets the order kept for `idempotencyKey` (the caller has recorded its certificate and key). */
  async release(tenantId: string, certificateId: string, idempotencyKey: string): Promise<void> {
    const entry = await this.options.journal?.get({ tenantId, certificateId });
    if (entry?.idempotencyKey === idempotencyKey) await this.dropOrder({ tenantId, certificateId }, entry);
  }

  private async attempt(request: CertificateRequest, ordering: { replaces?: string }, abortSignal?: AbortSignal, idempotencyKey?: string): Promise<IssuedCertificate> {
    const accountKey = await this.accountKey(request.tenantId);
    const client = this.client(accountKey, await this.accountUrl(request.tenantId, accountKey));
    abortSignal?.throwIfAborted();
    const resumed = await this.resumeOrder(client, request, idempotencyKey);
    let order = resumed?.order ?? (await this.createOrder(client, request, ordering, idempotencyKey));
    let csrKeyPem = resumed?.csrKeyPem;
    abortSignal?.throwIfAborted();
    if (order.status === 'pending' || order.status === 'ready') {
      if (order.status === 'pending') {
        const authorizations = await client.getAuthorizations(order);
        // Sequential on purpose: a wildcard and its base name share one `_acme-challenge` name.
        for (const authz of authorizations) {
          if (authz.status === 'valid') continue;
          abortSignal?.throwIfAborted();
          await this.solve(client, order, authz, abortSignal);
        }
      }
      csrKeyPem ??= await this.newCsrKey(request, order.url);
      // The CN must be one of the SANs (CA/B Baseline Requirements §7.1.4.3; Pebble counts it as an
      // identifier): fall back to the first name when the request's CN is not among them.
      const commonName = request.dnsNames.includes(request.commonName) ? request.commonName : request.dnsNames[0];
      const [, csr] = await acme.crypto.createCsr({ commonName, altNames: request.dnsNames }, csrKeyPem);
      abortSignal?.throwIfAborted();
      order = await client.finalizeOrder(order, csr);
      abortSignal?.throwIfAborted();
    }
    const ready = order.status === 'valid' ? order : await client.waitForValidStatus(order);
    abortSignal?.throwIfAborted();
    const pems = acme.crypto.splitPemChain(await client.getCertificate(ready, this.options.preferredChain));
    const leaf = new X509Certificate(pems[0]);
    const keyPem = csrKeyPem!;
    if (!leaf.checkPrivateKey(createPrivateKey(keyPem))) {
      // Only possible when a journaled key does not belong to the order (a journal written by
      // someone else): the certificate is useless without its key, so order anew.
      await this.dropOrder(request, await this.options.journal?.get(request), 'the certificate does not match the journaled CSR key');
      throw new RetryableError(`ACME order ${order.url} for ${request.certificateId} (tenant ${request.tenantId}) returned a certificate that does not match the journaled key; a new order will be placed`);
    }
    // What signed it, so that revoke knows this CA's certificates from others' (see the header).
    await this.recordIssuingKey(request.tenantId, issuingKeyId(parsePemBundle(pems[0])[0]));
    // Kept for an idempotent caller until it releases it: a repeat continues this valid order.
    if (!idempotencyKey) await this.dropOrder(request, await this.options.journal?.get(request));
    this.options.logger?.info(
      { tenantId: request.tenantId, certificateId: request.certificateId, ca: this.options.directoryUrl, challenge: this.options.challenge, serialNumber: leaf.serialNumber, orderUrl: order.url, resumed: resumed !== undefined },
      'acme certificate issued',
    );
    return {
      certificatePem: ensureNewline(pems[0]),
      chainPem: pems.slice(1).map(ensureNewline).join(''),
      privateKeyPem: keyPem,
      fingerprintSha256: leaf.fingerprint256.replace(/:/g, '').toLowerCase(),
      notBefore: new Date(leaf.validFrom).toISOString(),
      notAfter: new Date(leaf.validTo).toISOString(),
    };
  }

  /**
   * newOrder (RFC 8555 §7.4), journaled at once: from here on a crash resumes this order.
   * `replaces` (RFC 9773 §5) is sent when given; a 4xx refusal of that order (other than a rate
   * limit or an unknown account, which concern the account, not the field) drops the field for
   * this and later attempts and orders again: ARI is a hint, never a reason not to renew.
   */
  /** `{ profile }` when one is configured and the CA advertises it; a CA without it is a configuration error. */
  /** The CA's directory, read once per issuer (acme-client reads its own copy for its requests). */
  private directory(abortSignal?: AbortSignal): Promise<Record<string, unknown>> {
    this.directoryRead ??= acme.axios.get(this.options.directoryUrl, { signal: abortSignal }).then((r) => r.data as Record<string, unknown>);
    this.directoryRead.catch(() => (this.directoryRead = undefined));
    return this.directoryRead;
  }

  private async profileField(): Promise<{ profile?: string }> {
    const profile = this.options.profile;
    if (!profile) return {};
    const profiles = ((await this.directory()) as { meta?: { profiles?: Record<string, unknown> } }).meta?.profiles ?? {};
    if (!(profile in profiles)) {
      const offered = Object.keys(profiles);
      throw new PermanentError(
        `ACME CA ${this.options.directoryUrl} offers no certificate profile "${profile}" (${offered.length ? `offered: ${offered.join(', ')}` : 'it advertises no profiles'}); change the tenant's acme.profile`,
      );
    }
    return { profile };
  }

  private async createOrder(client: acme.Client, request: CertificateRequest, ordering: { replaces?: string }, idempotencyKey?: string): Promise<acme.Order> {
    const base = { identifiers: request.dnsNames.map((value) => ({ type: 'dns', value })), ...(await this.profileField()) };
    // acme-client's types predate RFC 9773 and ACME profiles; it sends the payload object as it is.
    const newOrder = (payload: object) => client.createOrder(payload as Parameters<acme.Client['createOrder']>[0]);
    let order: acme.Order;
    const replaces = ordering.replaces;
    if (replaces === undefined) {
      order = await newOrder(base);
    } else {
      try {
        order = await newOrder({ ...base, replaces });
      } catch (err) {
        if (!(err instanceof AcmeProblemError && err.status >= 400 && err.status < 500 && err.shortType !== 'rateLimited' && err.shortType !== 'accountDoesNotExist')) throw err;
        ordering.replaces = undefined;
        this.options.logger?.warn(
          { tenantId: request.tenantId, certificateId: request.certificateId, replaces, problem: err.type, status: err.status, detail: err.detail },
          'acme CA refused the order naming the replaced certificate; ordering again without replaces',
        );
        order = await newOrder(base);
      }
    }
    await this.options.journal?.save({
      tenantId: request.tenantId,
      certificateId: request.certificateId,
      directoryUrl: this.options.directoryUrl,
      orderUrl: order.url,
      dnsNames: [...request.dnsNames].sort(),
      keyType: request.keyType,
      createdAt: this.options.clock.now().toISOString(),
      ...(idempotencyKey ? { idempotencyKey } : {}),
    });
    return order;
  }

  /**
   * The CSR's key. With a journal it is stored (encrypted by the KeyStore) and journaled before
   * finalize: once the CA has the CSR, only this key matches the certificate it will issue.
   */
  private async newCsrKey(request: CertificateRequest, orderUrl: string): Promise<string> {
    const key = (await generateKeyPair(request.keyType)).privateKeyPem;
    const journal = this.options.journal;
    const entry = await journal?.get(request);
    if (journal && entry?.orderUrl === orderUrl) {
      const csrKeyName = orderKeyName(request.certificateId);
      await this.options.keyStore.put(request.tenantId, csrKeyName, key);
      await journal.save({ ...entry, csrKeyName });
    }
    return key;
  }

  /**
   * The journaled order for this request when the CA can still complete it, with the CSR key
   * when one was journaled. Anything else (other names or CA, 404, invalid, finalized without a
   * key) is dropped, and the caller places a new order.
   */
  private async resumeOrder(client: acme.Client, request: CertificateRequest, idempotencyKey?: string): Promise<{ order: acme.Order; csrKeyPem?: string } | undefined> {
    let entry = await this.options.journal?.get(request);
    if (!entry) return undefined;
    const names = [...request.dnsNames].sort();
    if (entry.directoryUrl !== this.options.directoryUrl || entry.keyType !== request.keyType || entry.dnsNames.join('\n') !== names.join('\n')) {
      await this.dropOrder(request, entry, 'the journaled order is for other names, key type or CA');
      return undefined;
    }
    // An order kept for another caller's key is that caller's certificate (maybe already in use):
    // never handed to someone else. An order placed without a key is taken over by this caller.
    if (entry.idempotencyKey !== undefined && entry.idempotencyKey !== idempotencyKey) {
      await this.dropOrder(request, entry, 'the journaled order was kept for another request');
      return undefined;
    }
    if (entry.idempotencyKey === undefined && idempotencyKey !== undefined) {
      entry = { ...entry, idempotencyKey };
      await this.options.journal!.save(entry);
    }
    let order: acme.Order;
    try {
      order = await client.getOrder({ url: entry.orderUrl } as acme.Order);
    } catch (err) {
      if (!(err instanceof AcmeProblemError && err.status === 404)) throw err; // keep the entry: try again later
      await this.dropOrder(request, entry, 'the CA no longer has the order');
      return undefined;
    }
    if (!RESUMABLE_ORDER_STATES.has(order.status)) {
      await this.dropOrder(request, entry, `the order is ${order.status}`);
      return undefined;
    }
    const csrKeyPem = entry.csrKeyName ? (await this.options.keyStore.get(request.tenantId, entry.csrKeyName)) || undefined : undefined;
    if ((order.status === 'processing' || order.status === 'valid') && !csrKeyPem) {
      await this.dropOrder(request, entry, `the order is ${order.status} but its CSR key is not in the key store`);
      return undefined;
    }
    this.options.logger?.info({ tenantId: request.tenantId, certificateId: request.certificateId, orderUrl: entry.orderUrl, status: order.status }, 'acme order resumed');
    return { order, csrKeyPem };
  }

  private async storedIssuingKeyIds(tenantId: string): Promise<Set<string>> {
    const stored = await this.options.keyStore.get(tenantId, this.issuingKeyIdsStoreName);
    return new Set((stored ?? '').split('\n').filter((line) => line !== ''));
  }

  /**
   * Adds the key that signed a downloaded certificate to the tenant's record (see the header).
   * Best effort: the certificate is issued either way; a record that misses a key is completed by
   * the next certificate that key signs (logged).
   */
  private async recordIssuingKey(tenantId: string, keyId: string): Promise<void> {
    const seen = `${tenantId}|${keyId}`;
    if (this.recordedIssuingKeys.has(seen)) return;
    const write = (this.issuingKeyWrites.get(tenantId) ?? Promise.resolve()).then(async () => {
      const known = await this.storedIssuingKeyIds(tenantId);
      if (!known.has(keyId)) await this.options.keyStore.put(tenantId, this.issuingKeyIdsStoreName, [...known, keyId].slice(-MAX_ISSUING_KEY_IDS).join('\n'));
      this.recordedIssuingKeys.add(seen);
    });
    const settled = write.catch((err: unknown) =>
      this.options.logger?.warn({ tenantId, keyId, reason: errorMessage(err) }, 'acme issuing key not recorded; revocation may take this CA\'s certificates for another\'s'),
    );
    this.issuingKeyWrites.set(tenantId, settled);
    await settled;
  }

  /** Forgets a journaled order and its CSR key. Best effort: a failure here must not turn a success into an error. */
  private async dropOrder(request: AcmeOrderJournalKey, entry: JournaledAcmeOrder | null | undefined, reason?: string): Promise<void> {
    if (!entry) return;
    try {
      if (entry.csrKeyName) await this.options.keyStore.delete(request.tenantId, entry.csrKeyName);
      await this.options.journal?.clear(request);
      if (reason) this.options.logger?.info({ tenantId: request.tenantId, certificateId: request.certificateId, orderUrl: entry.orderUrl, reason }, 'acme journaled order dropped');
    } catch (err) {
      this.options.logger?.warn({ tenantId: request.tenantId, certificateId: request.certificateId, orderUrl: entry.orderUrl, reason: errorMessage(err) }, 'acme order journal could not be cleared');
    }
  }

  private client(accountKey: string, accountUrl?: string): acme.Client {
    const backoff = this.options.pollBackoff ?? DEFAULT_POLL_BACKOFF;
    const client = new acme.Client({
      directoryUrl: this.options.directoryUrl,
      accountUrl,
      accountKey,
      externalAccountBinding: this.options.eab,
      backoffAttempts: backoff.attempts,
      backoffMin: backoff.minMs,
      backoffMax: backoff.maxMs,
    });
    // acme-client has no option for this; the property is its in-code retry bound (http.js).
    (client as unknown as { http: { maxBadNonceRetries: number } }).http.maxBadNonceRetries = BAD_NONCE_RETRIES;
    return client;
  }

  /** The tenant's account URL, looked up once per process (single flight: concurrent first calls share it). */
  private accountUrl(tenantId: string, accountKey: string): Promise<string> {
    let pending = this.accountUrls.get(tenantId);
    if (!pending) {
      pending = this.findOrCreateAccount(this.client(accountKey));
      this.accountUrls.set(tenantId, pending);
      pending.catch(() => this.accountUrls.delete(tenantId));
    }
    return pending;
  }

  /**
   * Looks the account up by its key, creating it only when the CA does not know the key
   * (RFC 8555 §7.3.1 `onlyReturnExisting`). acme-client's own createAccount answers an existing
   * account with an update carrying `termsOfServiceAgreed`, which Pebble rejects as malformed.
   */
  private async findOrCreateAccount(client: acme.Client): Promise<string> {
    try {
      await client.createAccount({ onlyReturnExisting: true });
    } catch (err) {
      if (!(err instanceof AcmeProblemError && err.shortType === 'accountDoesNotExist')) throw err;
      await client.createAccount({ termsOfServiceAgreed: true, ...(this.options.contactEmail ? { contact: [`mailto:${this.options.contactEmail}`] } : {}) });
    }
    return client.getAccountUrl();
  }

  /** Presents one challenge, asks the CA to validate it, waits; cleanup always follows present. */
  private async solve(client: acme.Client, order: acme.Order, authz: acme.Authorization, abortSignal?: AbortSignal): Promise<void> {
    const type = this.options.challenge;
    const challenge = authz.challenges.find((c) => c.type === type);
    if (!challenge) {
      const offered = authz.challenges.map((c) => c.type).join(', ');
      const hint = authz.wildcard ? ' (wildcard names can only be validated by dns-01, RFC 8555 §7.1.3)' : '';
      throw new PermanentError(`ACME CA offers no ${type} challenge for ${authz.identifier.value} (offered: ${offered})${hint}; configure another challenge type`);
    }
    const keyAuthorization = await client.getChallengeKeyAuthorization(challenge);
    const name = authz.identifier.value;
    const present = type === 'http-01'
      ? () => this.options.http!.present(challenge.token, keyAuthorization, { abortSignal })
      : () => this.options.dns!.present({ fqdn: `_acme-challenge.${name}`, value: keyAuthorization }, { abortSignal });
    const cleanup = type === 'http-01'
      ? () => this.options.http!.cleanup(challenge.token)
      : () => this.options.dns!.cleanup({ fqdn: `_acme-challenge.${name}`, value: keyAuthorization });
    await present();
    try {
      // A resumed order may hold a challenge already submitted before the interruption.
      if (challenge.status === 'pending') await client.completeChallenge(challenge);
      try {
        await client.waitForValidStatus(challenge);
      } catch (err) {
        throw (await this.challengeProblem(client, order, authz.url, type)) ?? err;
      }
    } finally {
      // Not given the abort signal: a record left behind by an aborted issuance must still go.
      await cleanup().catch((err) =>
        this.options.logger?.warn({ identifier: name, challenge: type, reason: errorMessage(err) }, 'acme challenge cleanup failed'),
      );
    }
  }

  /** The CA's problem for a failed challenge: acme-client's error keeps only the detail text. */
  private async challengeProblem(client: acme.Client, order: acme.Order, authzUrl: string, type: string): Promise<AcmeProblemError | undefined> {
    try {
      const authz = (await client.getAuthorizations(order)).find((a) => a.url === authzUrl);
      const error = authz?.challenges.find((c) => c.type === type)?.error as { type?: string; detail?: string; status?: number } | undefined;
      if (error?.type) return new AcmeProblemError(error.type, error.detail ?? '', error.status ?? 400);
    } catch {
      // fall back to acme-client's error
    }
    return undefined;
  }

  private validate(request: CertificateRequest): void {
    const problems: string[] = [];
    if (request.dnsNames.length === 0) problems.push('no dnsNames');
    if (request.ipAddresses.length > 0) problems.push('IP address identifiers (RFC 8738) are not supported by this issuer yet');
    if (this.options.challenge === 'http-01') {
      const wildcards = request.dnsNames.filter((n) => n.startsWith('*.'));
      if (wildcards.length > 0) problems.push(`wildcard names ${wildcards.join(', ')} need dns-01 (RFC 8555 §7.1.3)`);
    }
    if (problems.length > 0) {
      throw new PermanentError(`ACME cannot issue ${request.certificateId} of tenant ${request.tenantId}: ${problems.join(', ')}; fix the managed certificate's configuration`);
    }
  }

  /** The tenant's account key, created once and stored before first use. */
  private accountKey(tenantId: string): Promise<string> {
    let pending = this.accountKeys.get(tenantId);
    if (!pending) {
      pending = (async () => {
        const stored = await this.options.keyStore.get(tenantId, this.accountKeyName);
        if (stored) return stored;
        const created = (await generateKeyPair('ec-p256')).privateKeyPem;
        await this.options.keyStore.put(tenantId, this.accountKeyName, created);
        this.options.logger?.info({ tenantId, keyName: this.accountKeyName }, 'acme account key created');
        return created;
      })();
      this.accountKeys.set(tenantId, pending);
      pending.catch(() => this.accountKeys.delete(tenantId));
    }
    return pending;
  }
}

/** KeyStore name of a journaled order's CSR key (the KeyStore already scopes names per tenant). */
export function orderKeyName(certificateId: string): string {
  return `acme/orders/${certificateId}`;
}

/**
 * The key that signed a certificate: its Authority Key Identifier (RFC 5280 §4.2.1.1, which the
 * CA/B Baseline Requirements make mandatory for subscriber certificates), or its issuer name.
 */
function issuingKeyId(certificate: Certificate): string {
  try {
    return `aki:${ariCertId(certificate.der).split('.')[0]}`;
  } catch {
    return `dn:${nameKey(certificate.issuer)}`;
  }
}

function ensureNewline(pem: string): string {
  return pem.endsWith('\n') ? pem : `${pem}\n`;
}
