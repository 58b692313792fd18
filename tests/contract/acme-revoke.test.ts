/**
 * Revocation through the tenant's ACME account (RFC 8555 §7.6) against a real CA: Debian's Pebble
 * 2.4 and pebble-challtestsrv, started by this suite. That the CA really revoked a certificate is
 * read from Pebble's management interface (GET /cert-status-by-serial/<hex serial> answers
 * `Status: "Revoked"` and the RFC 5280 §5.3.1 reason code), never from the client's own answer.
 * "Nothing is sent" is read from every request acme-client made (AcmeRequestLog).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixedClock } from '../../shared/domain/clock';
import { PermanentError, RetryableError } from '../../shared/domain/errors';
import type { TenantConfig } from '../../shared/config/model';
import type { RevocationReason } from '../../shared/ports/issuer';
import { ChalltestsrvDnsSolver } from '../../shared/adapters/acme/challtestsrv-dns-solver';
import { TenantAcmeIssuer } from '../../shared/adapters/acme/tenant-acme-issuer';
import { startPebble, type PebbleHandle } from '../../shared/demo/pebble-lab';
import { statusAtPebble as pebbleStatus } from '../support/pebble-status';
import { AcmeRequestLog, aDns01Issuer, aRequestFor } from '../support/acme-builders';
import { InMemoryKeyStore } from '../support/in-memory-key-store';
import { aCertificate } from '../support/x509-builders';

jest.setTimeout(30_000);

let pebble: PebbleHandle;
let dns: ChalltestsrvDnsSolver;
let log: AcmeRequestLog;
let revokeUrl: string;

beforeAll(async () => {
  pebble = await startPebble();
  dns = new ChalltestsrvDnsSolver(pebble.dns.managementUrl);
  log = new AcmeRequestLog(pebble);
  revokeUrl = `${new URL(pebble.directoryUrl).origin}/revoke-cert`;
});
afterEach(() => log.reset());
afterAll(async () => {
  log?.stop();
  await pebble?.stop();
});

/** What Pebble itself says about a certificate it issued (its management interface). */
function statusAtPebble(certificatePem: string, ca: PebbleHandle = pebble): Promise<{ Status: string; Reason?: number }> {
  return pebbleStatus(certificatePem, ca);
}

describe('AcmeIssuer.revoke against Pebble', () => {
  it.each([
    { reason: 'keyCompromise' as RevocationReason, code: 1 },
    { reason: 'superseded' as RevocationReason, code: 4 },
    { reason: 'cessationOfOperation' as RevocationReason, code: 5 },
  ])('When a certificate the CA issued is revoked for $reason, then the CA reports it revoked with reason code $code', async ({ reason, code }) => {
    const issuer = aDns01Issuer(pebble, dns);
    const issued = await issuer.issue(aRequestFor([`${reason.toLowerCase()}.contoso.test`]));
    expect(await statusAtPebble(issued.certificatePem)).toEqual({ Status: 'Valid' });

    await expect(issuer.revoke('contoso', issued.certificatePem, reason)).resolves.toBe('revoked');

    expect(await statusAtPebble(issued.certificatePem)).toEqual({ Status: 'Revoked', Reason: code });
  });

  it('When a revoked certificate is revoked again, then the CA is asked once more and its alreadyRevoked counts as revoked', async () => {
    const said: string[] = [];
    const issuer = aDns01Issuer(pebble, dns, { logger: { info: (_obj, msg) => said.push(msg), warn: (_obj, msg) => said.push(msg) } });
    const issued = await issuer.issue(aRequestFor(['twice.contoso.test']));
    await issuer.revoke('contoso', issued.certificatePem, 'keyCompromise');
    log.reset();

    await expect(issuer.revoke('contoso', issued.certificatePem, 'keyCompromise')).resolves.toBe('revoked');

    expect(log.posts(revokeUrl).length).toBeGreaterThan(0);
    expect(said.slice(-1)).toEqual(['acme certificate was already revoked']);
    expect(await statusAtPebble(issued.certificatePem)).toEqual({ Status: 'Revoked', Reason: 1 });
  });

  it('When the certificate was issued by another CA, then it is not ours and nothing is sent to the CA', async () => {
    const issuer = aDns01Issuer(pebble, dns);
    await issuer.issue(aRequestFor(['known.contoso.test']));
    const foreign = await aCertificate({ dnsNames: ['known.contoso.test'] });
    log.reset();

    await expect(issuer.revoke('contoso', foreign.pem, 'keyCompromise')).resolves.toBe('not-ours');

    expect(log.requests).toEqual([]);
  });

  it('When the tenant has no account at the CA, then nothing this issuer could revoke is its own and nothing is sent', async () => {
    const issued = await aDns01Issuer(pebble, dns).issue(aRequestFor(['elsewhere.contoso.test']));
    const accountless = aDns01Issuer(pebble, dns);
    log.reset();

    await expect(accountless.revoke('contoso', issued.certificatePem, 'keyCompromise')).resolves.toBe('not-ours');

    expect(log.requests).toEqual([]);
    expect(await statusAtPebble(issued.certificatePem)).toEqual({ Status: 'Valid' });
  });

  it("When certops kept no record of the CA's issuing keys (a certificate issued before it did), then the CA is asked and revokes it", async () => {
    const keyStore = new InMemoryKeyStore();
    const issuer = aDns01Issuer(pebble, dns, { keyStore });
    const issued = await issuer.issue(aRequestFor(['older.contoso.test']));
    await keyStore.delete('contoso', issuer.issuingKeyIdsStoreName);
    const restarted = aDns01Issuer(pebble, dns, { keyStore });

    await expect(restarted.revoke('contoso', issued.certificatePem, 'keyCompromise')).resolves.toBe('revoked');

    expect(await statusAtPebble(issued.certificatePem)).toEqual({ Status: 'Revoked', Reason: 1 });
  });

  it("When the issuer is started anew, then what it learnt of the CA's issuing keys is still known and a foreign certificate is not sent", async () => {
    const keyStore = new InMemoryKeyStore();
    await aDns01Issuer(pebble, dns, { keyStore }).issue(aRequestFor(['remembered.contoso.test']));
    const restarted = aDns01Issuer(pebble, dns, { keyStore });
    const foreign = await aCertificate({ dnsNames: ['remembered.contoso.test'] });
    log.reset();

    await expect(restarted.revoke('contoso', foreign.pem, 'keyCompromise')).resolves.toBe('not-ours');

    expect(log.requests).toEqual([]);
  });

  it("When a tenant asks to revoke another tenant's certificate from the same CA, then the CA's refusal is permanent and carries its detail", async () => {
    const issuer = aDns01Issuer(pebble, dns);
    const fabrikams = await issuer.issue({ ...aRequestFor(['www.fabrikam.test']), tenantId: 'fabrikam' });
    await issuer.issue(aRequestFor(['own.contoso.test']));

    const error = await issuer.revoke('contoso', fabrikams.certificatePem, 'keyCompromise').catch((e: unknown) => e);

    expect(error).toBeInstanceOf(PermanentError);
    expect((error as Error).message).toMatch(/not associated with account/);
    expect(await statusAtPebble(fabrikams.certificatePem)).toEqual({ Status: 'Valid' });
  });

  it('When the CA cannot be reached, then revocation fails as retryable after the transient retries', async () => {
    const other = await startPebble();
    const logs: string[] = [];
    const issuer = aDns01Issuer(other, new ChalltestsrvDnsSolver(other.dns.managementUrl), {
      logger: { info: () => undefined, warn: (_obj, msg) => logs.push(msg) },
    });
    const issued = await issuer.issue(aRequestFor(['offline.contoso.test']));
    await other.stop();

    const error = await issuer.revoke('contoso', issued.certificatePem, 'keyCompromise').catch((e: unknown) => e);

    expect(error).toBeInstanceOf(RetryableError);
    expect((error as Error).message).toMatch(/ECONNREFUSED.*it will be retried/);
    expect(logs.filter((m) => m === 'acme revocation retried')).toHaveLength(2);
  });
});

describe('TenantAcmeIssuer.revoke', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'certops-revoke-'));
    writeFileSync(join(dir, 'pebble-tls-ca.pem'), pebble.tlsCaPem);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function tenantIssuer(tenants: Array<Pick<TenantConfig, 'id' | 'acme'>>): TenantAcmeIssuer {
    const byId = new Map(tenants.map((t) => [t.id, t as TenantConfig]));
    return new TenantAcmeIssuer({
      tenants: { list: () => [...byId.values()], get: (id) => byId.get(id) },
      keyStore: new InMemoryKeyStore(),
      clock: fixedClock('2031-01-01T00:00:00Z'),
      env: {},
    });
  }

  it("When a tenant's certificate is revoked, then it is revoked through that tenant's CA and account", async () => {
    const issuer = tenantIssuer([
      {
        id: 'contoso',
        acme: {
          directoryUrl: pebble.directoryUrl,
          challenge: 'dns-01',
          directoryCaFile: join(dir, 'pebble-tls-ca.pem'),
          dns01: { provider: 'pebble-challtestsrv', managementUrl: pebble.dns.managementUrl },
        },
      },
    ]);
    const issued = await issuer.issue(aRequestFor(['routed.contoso.test']));

    await expect(issuer.revoke('contoso', issued.certificatePem, 'keyCompromise')).resolves.toBe('revoked');

    expect(await statusAtPebble(issued.certificatePem)).toEqual({ Status: 'Revoked', Reason: 1 });
  });

  it('When a tenant has no ACME CA, then nothing is its to revoke and nothing is sent', async () => {
    const issuer = tenantIssuer([{ id: 'contoso' }]);
    const certificate = await aCertificate({ dnsNames: ['www.contoso.test'] });

    await expect(issuer.revoke('contoso', certificate.pem, 'keyCompromise')).resolves.toBe('not-ours');

    expect(log.requests).toEqual([]);
  });
});
