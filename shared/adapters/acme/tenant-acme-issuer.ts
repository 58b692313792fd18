/**
 * The 'acme' issuer of the pipeline: one AcmeIssuer per tenant, built from the tenant's `acme`
 * settings on first use (directory, challenge, EAB key from the environment, directory CA for
 * lab CAs), with the challenge helpers it names. HTTP-01 responders are shared per port.
 */
import { readFileSync } from 'node:fs';
import type { Clock } from '../../domain/clock';
import { errorMessage, PermanentError } from '../../domain/errors';
import type { AcmeSettings } from '../../config/model';
import type { CertificateRequest, IssuedCertificate, Issuer, IssueOptions, RenewalSuggestion, RevocationReason } from '../../ports/issuer';
import { ariCertId } from '../../domain/ari';
import { toPem } from '../local/certificate-factory';
import type { KeyStore } from '../../ports/key-store';
import type { AcmeOrderJournal } from '../../ports/acme-order-journal';
import type { TenantDirectory } from '../../ports/tenant-directory';
import { AcmeIssuer, type AcmeIssuerOptions } from './acme-issuer';
import { ChalltestsrvDnsSolver } from './challtestsrv-dns-solver';
import { DelegatingDnsSolver } from './delegating-dns-solver';
import type { DnsSolver } from '../../ports/dns-solver';
import { MemoryHttpResponder } from './memory-http-responder';
import { WebrootHttpResponder } from './webroot-http-responder';

/** A CA without renewalInfo is asked again after this long (it may have added ARI since). */
const NO_ARI_RECHECK_MS = 24 * 3_600_000;

export interface TenantAcmeIssuerOptions {
  tenants: TenantDirectory;
  keyStore: KeyStore;
  /** Orders in flight, so a crash resumes them instead of ordering twice. */
  journal?: AcmeOrderJournal;
  clock: Clock;
  env: NodeJS.ProcessEnv;
  logger?: AcmeIssuerOptions['logger'];
}

export class TenantAcmeIssuer implements Issuer {
  readonly name = 'acme';
  private readonly issuers = new Map<string, Promise<AcmeIssuer>>();
  private readonly responders = new Map<number, Promise<MemoryHttpResponder>>();
  private readonly suggestions = new Map<string, { value: RenewalSuggestion | null; until: number }>();

  constructor(private readonly options: TenantAcmeIssuerOptions) {}

  async issue(request: CertificateRequest, options: IssueOptions = {}): Promise<IssuedCertificate> {
    return (await this.issuerFor(request.tenantId)).issue(request, options);
  }

  async release(tenantId: string, certificateId: string, idempotencyKey: string): Promise<void> {
    if (!this.options.tenants.get(tenantId)?.acme) return;
    await (await this.issuerFor(tenantId)).release(tenantId, certificateId, idempotencyKey);
  }

  /**
   * Revokes through the tenant's own CA and account (AcmeIssuer.revoke). A tenant without ACME
   * settings has no CA of its own here: nothing of its is this issuer's to revoke, nothing is sent.
   */
  async revoke(tenantId: string, certificatePem: string, reason: RevocationReason): Promise<'revoked' | 'not-ours'> {
    if (!this.options.tenants.get(tenantId)?.acme) return 'not-ours';
    return (await this.issuerFor(tenantId)).revoke(tenantId, certificatePem, reason);
  }

  /**
   * The CA's renewal window for a certificate (RFC 9773), remembered until its Retry-After passes:
   * every sweep asks, the CA is asked a few times a day. Null when the CA offers no ARI, or when
   * asking fails (the expiry rules decide then; logged).
   */
  async renewalSuggestion(tenantId: string, certificateDer: Buffer): Promise<RenewalSuggestion | null> {
    try {
      const certId = ariCertId(certificateDer);
      const key = `${tenantId}|${certId}`;
      const cached = this.suggestions.get(key);
      const now = this.options.clock.now().getTime();
      if (cached && cached.until > now) return cached.value;
      const info = await (await this.issuerFor(tenantId)).renewalInfo(toPem(certificateDer, 'CERTIFICATE'));
      const value = info ? { certId, window: info.window } : null;
      this.suggestions.set(key, { value, until: now + (info?.retryAfterMs ?? NO_ARI_RECHECK_MS) });
      return value;
    } catch (err) {
      this.options.logger?.warn({ tenantId, reason: errorMessage(err) }, 'acme renewal information unavailable; expiry rules decide');
      return null;
    }
  }

  /** Public ACME CAs chain to roots clients already trust; a lab CA's root goes in trustedCaFiles. */
  async trustAnchorsPem(): Promise<string[]> {
    return [];
  }

  async close(): Promise<void> {
    const responders = await Promise.allSettled(this.responders.values());
    this.responders.clear();
    await Promise.all(responders.map((r) => (r.status === 'fulfilled' ? r.value.close() : undefined)));
  }

  private issuerFor(tenantId: string): Promise<AcmeIssuer> {
    let pending = this.issuers.get(tenantId);
    if (!pending) {
      pending = this.build(tenantId);
      this.issuers.set(tenantId, pending);
      pending.catch(() => this.issuers.delete(tenantId));
    }
    return pending;
  }

  private async build(tenantId: string): Promise<AcmeIssuer> {
    const settings = this.options.tenants.get(tenantId)?.acme;
    if (!settings) throw new PermanentError(`tenant ${tenantId} has no acme settings; add them, or issue its certificates from local-ca`);
    return new AcmeIssuer({
      directoryUrl: settings.directoryUrl,
      keyStore: this.options.keyStore,
      clock: this.options.clock,
      challenge: settings.challenge,
      http: !settings.http01 ? undefined : 'webroot' in settings.http01 ? new WebrootHttpResponder(settings.http01.webroot) : await this.responder(settings.http01.listenPort),
      dns: settings.dns01 ? this.dnsSolver(settings.dns01) : undefined,
      eab: this.eab(tenantId, settings),
      contactEmail: settings.contactEmail,
      preferredChain: settings.preferredChain,
      profile: settings.profile,
      journal: this.options.journal,
      tlsCa: settings.directoryCaFile ? readFileSync(settings.directoryCaFile, 'utf8') : undefined,
      logger: this.options.logger,
    });
  }

  private dnsSolver(dns01: NonNullable<AcmeSettings['dns01']>): DnsSolver {
    const provider = new ChalltestsrvDnsSolver(dns01.managementUrl);
    return dns01.delegationZone ? new DelegatingDnsSolver(provider, dns01.delegationZone) : provider;
  }

  private eab(tenantId: string, settings: AcmeSettings): AcmeIssuerOptions['eab'] {
    if (!settings.eab) return undefined;
    const hmacKey = this.options.env[settings.eab.hmacKeyEnv];
    if (!hmacKey) {
      throw new PermanentError(`tenant ${tenantId}'s ACME External Account Binding reads its HMAC key from ${settings.eab.hmacKeyEnv}, which is not set; set it`);
    }
    return { kid: settings.eab.kid, hmacKey };
  }

  private responder(port: number): Promise<MemoryHttpResponder> {
    let pending = this.responders.get(port);
    if (!pending) {
      const responder = new MemoryHttpResponder({ port });
      pending = responder.listen().then(() => responder);
      this.responders.set(port, pending);
      pending.catch(() => this.responders.delete(port));
    }
    return pending;
  }
}
