import { X509Certificate, createPrivateKey } from 'node:crypto';
import { fixedClock, MS_PER_DAY } from '../../shared/domain/clock';
import { NeedsHumanError, PermanentError } from '../../shared/domain/errors';
import type { CertificateRequest } from '../../shared/ports/issuer';
import type { KeyStore } from '../../shared/ports/key-store';
import { LocalCaIssuer, LOCAL_CA_CERT_NAME, LOCAL_CA_KEY_NAME } from '../../shared/adapters/local/local-ca-issuer';

const NOW = '2031-03-04T05:06:07.890Z';
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';

/** Our own port, so an in-memory fake is honest: it records writes and can be slowed or broken. */
class InMemoryKeyStore implements KeyStore {
  readonly values = new Map<string, string>();
  readonly puts: string[] = [];
  getDelayMs = 0;
  failNextGet = false;

  async put(tenantId: string, name: string, secretPem: string): Promise<void> {
    this.puts.push(`${tenantId}/${name}`);
    this.values.set(`${tenantId}/${name}`, secretPem);
  }

  async get(tenantId: string, name: string): Promise<string | null> {
    if (this.failNextGet) {
      this.failNextGet = false;
      throw new Error('key store unavailable');
    }
    if (this.getDelayMs) await new Promise((r) => setTimeout(r, this.getDelayMs));
    return this.values.get(`${tenantId}/${name}`) ?? null;
  }

  async delete(tenantId: string, name: string): Promise<void> {
    this.values.delete(`${tenantId}/${name}`);
  }
}

function aRequest(overrides: Partial<CertificateRequest> = {}): CertificateRequest {
  return {
    tenantId: 'contoso',
    certificateId: 'web',
    commonName: 'www.contoso.test',
    dnsNames: ['www.contoso.test', 'contoso.test'],
    ipAddresses: ['127.0.0.1'],
    keyType: 'ec-p256',
    validityDays: 90,
    ...overrides,
  };
}

function anIssuer(keyStore: KeyStore = new InMemoryKeyStore()) {
  return new LocalCaIssuer({ keyStore, clock: fixedClock(NOW) });
}

async function caOf(issuer: LocalCaIssuer, tenantId = 'contoso'): Promise<X509Certificate> {
  const [pem] = await issuer.trustAnchorsPem(tenantId);
  return new X509Certificate(pem);
}

describe('LocalCaIssuer', () => {
  it.each([
    { keyType: 'ec-p256' as const, asymmetricKeyType: 'ec' },
    { keyType: 'rsa-2048' as const, asymmetricKeyType: 'rsa' },
  ])('When a $keyType certificate is issued, then the leaf is signed by the tenant CA and matches its new key', async ({ keyType, asymmetricKeyType }) => {
    const issuer = anIssuer();
    const issued = await issuer.issue(aRequest({ keyType }));
    const leaf = new X509Certificate(issued.certificatePem);
    const ca = await caOf(issuer);

    expect(leaf.checkIssued(ca)).toBe(true); // node: "this certificate was issued by otherCert"
    expect(leaf.verify(ca.publicKey)).toBe(true);
    expect(leaf.publicKey.asymmetricKeyType).toBe(asymmetricKeyType);
    expect(leaf.checkPrivateKey(createPrivateKey(issued.privateKeyPem))).toBe(true);
    expect(issued.chainPem).toBe(ca.toString());
    expect(leaf.ca).toBe(false);
  });

  it('When a certificate is issued, then it carries the asked names, serverAuth and a lowercase sha256 fingerprint', async () => {
    const issued = await anIssuer().issue(aRequest({ dnsNames: ['a.contoso.test', 'b.contoso.test'], ipAddresses: ['10.0.0.7', '::1'] }));
    const leaf = new X509Certificate(issued.certificatePem);

    expect(leaf.subject).toBe('CN=www.contoso.test');
    expect(leaf.subjectAltName?.split(', ').sort()).toEqual(
      ['DNS:a.contoso.test', 'DNS:b.contoso.test', 'IP Address:10.0.0.7', 'IP Address:0:0:0:0:0:0:0:1'].sort(),
    );
    expect(leaf.keyUsage).toContain(SERVER_AUTH);
    expect(issued.fingerprintSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(issued.fingerprintSha256).toBe(leaf.fingerprint256.replace(/:/g, '').toLowerCase());
  });

  it('When 30 days are asked, then notBefore is a minute before the clock and notAfter 30 days after it, to the second', async () => {
    const issued = await anIssuer().issue(aRequest({ validityDays: 30 }));
    const leaf = new X509Certificate(issued.certificatePem);
    const now = Math.floor(new Date(NOW).getTime() / 1000) * 1000;

    expect(issued.notBefore).toBe(new Date(now - 60_000).toISOString());
    expect(issued.notAfter).toBe(new Date(now + 30 * MS_PER_DAY).toISOString());
    expect(new Date(leaf.validFrom).toISOString()).toBe(issued.notBefore);
    expect(new Date(leaf.validTo).toISOString()).toBe(issued.notAfter);
  });

  it('When a leaf would outlive the CA, then its notAfter is clamped to the CA notAfter', async () => {
    const issuer = anIssuer();
    const issued = await issuer.issue(aRequest({ validityDays: 20 * 365 }));
    const ca = await caOf(issuer);

    expect(issued.notAfter).toBe(new Date(ca.validTo).toISOString());
  });

  it('When the CA is first created, then it is a 10-year P-256 root named after the tenant', async () => {
    const ca = await caOf(anIssuer(), 'fabrikam');

    expect(ca.subject).toBe('CN=certops local CA (fabrikam)');
    expect(ca.issuer).toBe(ca.subject);
    expect(ca.ca).toBe(true);
    expect(ca.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    const years = (new Date(ca.validTo).getTime() - new Date(ca.validFrom).getTime()) / (365 * MS_PER_DAY);
    expect(years).toBeCloseTo(10, 1);
  });

  it('When ten first calls for one tenant run concurrently, then exactly one CA is created and signs all leaves', async () => {
    const keyStore = new InMemoryKeyStore();
    keyStore.getDelayMs = 20; // widen the window in which a naive implementation would create twice
    const issuer = anIssuer(keyStore);

    const leaves = await Promise.all(Array.from({ length: 10 }, (_, i) => issuer.issue(aRequest({ certificateId: `c${i}` }))));

    expect(keyStore.puts).toEqual([`contoso/${LOCAL_CA_KEY_NAME}`, `contoso/${LOCAL_CA_CERT_NAME}`]);
    const ca = await caOf(issuer);
    for (const l of leaves) expect(new X509Certificate(l.certificatePem).checkIssued(ca)).toBe(true);
  });

  it('When a second issuer shares the key store, then it reuses the stored CA and writes nothing', async () => {
    const keyStore = new InMemoryKeyStore();
    const first = anIssuer(keyStore);
    const caPem = (await first.trustAnchorsPem('contoso'))[0];
    const writes = keyStore.puts.length;

    const second = anIssuer(keyStore);
    const issued = await second.issue(aRequest());

    expect(await second.trustAnchorsPem('contoso')).toEqual([caPem]);
    expect(new X509Certificate(issued.certificatePem).checkIssued(new X509Certificate(caPem))).toBe(true);
    expect(new X509Certificate(issued.certificatePem).verify(new X509Certificate(caPem).publicKey)).toBe(true);
    expect(keyStore.puts.length).toBe(writes);
  });

  it('When two tenants ask, then each gets its own CA and one tenant\'s CA does not vouch for the other\'s leaves', async () => {
    const issuer = anIssuer();
    const leafOfA = new X509Certificate((await issuer.issue(aRequest({ tenantId: 'a' }))).certificatePem);
    const caOfB = await caOf(issuer, 'b');

    expect((await caOf(issuer, 'a')).fingerprint256).not.toBe(caOfB.fingerprint256);
    expect(leafOfA.verify(caOfB.publicKey)).toBe(false);
  });

  it('When the CA exists, then its private key is a PKCS#8 PEM kept only in the key store and never handed out', async () => {
    const keyStore = new InMemoryKeyStore();
    const issuer = anIssuer(keyStore);
    const issued = await issuer.issue(aRequest());
    const caKeyPem = keyStore.values.get(`contoso/${LOCAL_CA_KEY_NAME}`)!;
    const ca = await caOf(issuer);

    expect(caKeyPem).toMatch(/^-----BEGIN PRIVATE KEY-----\n[\s\S]+-----END PRIVATE KEY-----\n$/);
    expect(ca.checkPrivateKey(createPrivateKey(caKeyPem))).toBe(true);
    expect([...keyStore.values.keys()].sort()).toEqual([`contoso/${LOCAL_CA_CERT_NAME}`, `contoso/${LOCAL_CA_KEY_NAME}`]);
    expect(JSON.stringify(issued)).not.toContain(caKeyPem.split('\n')[1]);
    expect(issued.chainPem).not.toContain('PRIVATE KEY');
    expect((await issuer.trustAnchorsPem('contoso')).join('')).not.toContain('PRIVATE KEY');
  });

  it('When the key store fails on the first call, then the failure is not cached and the next call creates the CA', async () => {
    const keyStore = new InMemoryKeyStore();
    keyStore.failNextGet = true;
    const issuer = anIssuer(keyStore);

    await expect(issuer.issue(aRequest())).rejects.toThrow('key store unavailable');
    await expect(issuer.issue(aRequest())).resolves.toHaveProperty('certificatePem');
  });

  it('When the CA certificate is stored but its key is gone, then a human is asked instead of silently starting a new CA', async () => {
    const keyStore = new InMemoryKeyStore();
    await anIssuer(keyStore).trustAnchorsPem('contoso');
    keyStore.values.delete(`contoso/${LOCAL_CA_KEY_NAME}`);

    await expect(anIssuer(keyStore).issue(aRequest())).rejects.toBeInstanceOf(NeedsHumanError);
  });

  it.each([
    { name: 'no names at all', request: aRequest({ dnsNames: [], ipAddresses: [] }) },
    { name: 'zero validity days', request: aRequest({ validityDays: 0 }) },
    { name: 'an empty common name', request: aRequest({ commonName: ' ' }) },
  ])('When the request has $name, then PermanentError is thrown and no CA is created', async ({ request }) => {
    const keyStore = new InMemoryKeyStore();
    await expect(anIssuer(keyStore).issue(request)).rejects.toBeInstanceOf(PermanentError);
    expect(keyStore.puts).toEqual([]);
  });

  it('When the common name holds DN metacharacters, then it is escaped and stays one CN', async () => {
    const issued = await anIssuer().issue(aRequest({ commonName: 'evil.test,O=Forged' }));
    const leaf = new X509Certificate(issued.certificatePem);

    expect(leaf.subject.split('\n')).toHaveLength(1);
    expect(leaf.subject).not.toMatch(/^O=/m);
  });

  it('When the abort signal has fired, then issue rejects without signing', async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(anIssuer().issue(aRequest(), { abortSignal: controller.signal })).rejects.toThrow();
  });
});
