/**
 * Replays REAL Key Vault traffic (Azure SDK for JS test-proxy recordings, api-version 2025-07-01,
 * tests/fixtures/azure-keyvault/recordings) through the real CertificateClient and
 * KeyVaultCertificateVault: a tiny HTTPS server answers each request with the next recorded
 * response when method, path and api-version match, and fails the test on any mismatch. What the
 * adapter makes of the service's real answers is what these tests assert.
 */
import { X509Certificate, createHash } from 'node:crypto';
import * as fs from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import type { PipelinePolicy } from '@azure/core-rest-pipeline';
import { localhostTlsMaterial } from '../../shared/adapters/local/certificate-factory';
import { createKeyVaultClients } from '../../shared/adapters/azure/key-vault-clients';
import { KeyVaultCertificateVault, PKCS12_CONTENT_TYPE } from '../../shared/adapters/azure/key-vault-certificate-vault';
import { FakeCredential } from '../support/fake-credential';
import { fixturePath } from '../support/fixtures';

const RECORDINGS = fixturePath('azure-keyvault', 'recordings');

interface Entry {
  RequestUri: string;
  RequestMethod: string;
  RequestBody: unknown;
  StatusCode: number;
  ResponseHeaders: Record<string, string>;
  ResponseBody: unknown;
}

/** Headers the client reads; the rest (Date, request ids, Content-Length) are the server's own. */
const REPLAYED_HEADERS = ['Content-Type', 'WWW-Authenticate', 'Location', 'Retry-After'];

interface Replay {
  url: string;
  /** What the client sent, in order, with the index of the entry it was matched to. */
  readonly sent: Array<{ method: string; path: string; apiVersion: string | null; body: unknown }>;
  readonly mismatches: string[];
  remaining(): number;
  clientOptions(): object;
  close(): Promise<void>;
}

function load(file: string): Entry[] {
  return (JSON.parse(fs.readFileSync(path.join(RECORDINGS, file), 'utf8')) as { Entries: Entry[] }).Entries;
}

async function replay(entries: Entry[]): Promise<Replay> {
  const tls = await localhostTlsMaterial('certops replay CA');
  const queue = [...entries];
  const sent: Replay['sent'] = [];
  const mismatches: string[] = [];
  const server = https.createServer({ cert: tls.certPem, key: tls.keyPem }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'https://127.0.0.1');
      const text = Buffer.concat(chunks).toString('utf8');
      sent.push({ method: req.method ?? '', path: decodeURIComponent(url.pathname), apiVersion: url.searchParams.get('api-version'), body: text ? JSON.parse(text) : null });
      const next = queue[0];
      const recorded = next && new URL(next.RequestUri);
      const matches =
        recorded &&
        next.RequestMethod === req.method &&
        decodeURIComponent(recorded.pathname) === decodeURIComponent(url.pathname) &&
        recorded.searchParams.get('api-version') === url.searchParams.get('api-version');
      if (!matches) {
        mismatches.push(`${req.method} ${url.pathname}?api-version=${url.searchParams.get('api-version')} but the recording expects ${next ? `${next.RequestMethod} ${next.RequestUri}` : 'nothing more'}`);
        res.writeHead(599).end();
        return;
      }
      queue.shift();
      const body = next.ResponseBody === null || next.ResponseBody === undefined ? '' : JSON.stringify(next.ResponseBody);
      const headers: Record<string, string> = { 'Content-Length': String(Buffer.byteLength(body)) };
      for (const name of REPLAYED_HEADERS) if (next.ResponseHeaders[name] !== undefined) headers[name] = next.ResponseHeaders[name];
      res.writeHead(next.StatusCode, headers).end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const agent = new https.Agent({ ca: tls.caPem });
  const trust: PipelinePolicy = { name: 'trustReplay', sendRequest: (request, next) => ((request.agent = agent), next(request)) };
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    sent,
    mismatches,
    remaining: () => queue.length,
    clientOptions: () => ({ disableChallengeResourceVerification: true, additionalPolicies: [{ policy: trust, position: 'perCall' }], retryOptions: { maxRetries: 0 } }),
    close: () =>
      new Promise<void>((resolve) => {
        agent.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function x5tToHex(x5t: string): string {
  return Buffer.from(x5t, 'base64url').toString('hex');
}

describe('KeyVaultCertificateVault replaying real Key Vault recordings', () => {
  let server: Replay;

  async function open(file: string) {
    const entries = load(file);
    server = await replay(entries);
    const clients = createKeyVaultClients(server.url, new FakeCredential(), server.clientOptions());
    return { entries, vault: new KeyVaultCertificateVault(clients.certificates, { pollIntervalInMs: 1 }), secrets: clients.secrets };
  }

  afterEach(async () => {
    await server.close();
  });

  function expectWholeRecordingReplayed(): void {
    expect(server.mismatches).toEqual([]);
    expect(server.remaining()).toBe(0);
  }

  it('When the certificate does not exist (challenge, then 404 CertificateNotFound), then get answers null', async () => {
    const { vault } = await open('recording_can_get_a_certificate_non_existing.json');

    expect(await vault.get('CRUDCertificateName-cangetacertificateNonExisting-')).toBeNull();
    expectWholeRecordingReplayed();
  });

  it('When a Self certificate is created (202, three polls, completed), then createWithPolicy waits and maps the real bundle', async () => {
    const { entries, vault } = await open('recording_can_wait_until_a_certificate_is_created.json');
    const recorded = entries[entries.length - 1].ResponseBody as { cer: string; x5t: string; attributes: { created: number; exp: number } };

    const created = await vault.createWithPolicy('lroCreateCertificateName-canwaituntilacertificateiscreated-', { subject: 'cn=MyCert' });

    expectWholeRecordingReplayed();
    expect(created).toMatchObject({
      name: 'lroCreateCertificateName-canwaituntilacertificateiscreated-',
      version: '7773e77526eb468c9e1ac6b92a57ce2c',
      thumbprintSha1: x5tToHex(recorded.x5t),
      enabled: true,
      createdOn: new Date(recorded.attributes.created * 1000),
      expiresOn: new Date(recorded.attributes.exp * 1000),
      policy: { issuerName: 'Self', exportable: true, contentType: PKCS12_CONTENT_TYPE },
    });
    const cert = new X509Certificate(created.certificatePem);
    expect(cert.subject).toBe('CN=MyCert');
    expect(createHash('sha1').update(cert.raw).digest('hex')).toBe(created.thumbprintSha1);
    expect(cert.raw.toString('base64')).toBe(recorded.cer);
    const create = server.sent.find((r) => r.method === 'POST' && r.body !== null)?.body as { policy: { issuer: { name: string }; x509_props: { subject: string } } };
    expect(create.policy).toMatchObject({ issuer: { name: 'Self' }, x509_props: { subject: 'cn=MyCert' } });
  });

  it("When a certificate is imported from another certificate's PKCS#12 secret value, then the recorded value goes on the wire and the import maps", async () => {
    const { entries, vault, secrets } = await open('recording_can_import_a_certificate_from_a_certificates_non_base64_secret_value.json');
    const source = 'mergeCertificateName-canimportacertificatefromacertificatesnonbase64secretvalue-0';

    const original = await vault.createWithPolicy(source, { subject: 'cn=MyCert' });
    const secret = await secrets.getSecret(source);
    expect(secret.properties).toMatchObject({ contentType: PKCS12_CONTENT_TYPE, managed: true });
    const imported = await vault.importPfx('mergeCertificateName-canimportacertificatefromacertificatesnonbase64secretvalue-1', Buffer.from(secret.value!, 'base64'));

    expectWholeRecordingReplayed();
    const importBody = server.sent[server.sent.length - 1].body as { value: string };
    expect(importBody.value).toBe((entries[entries.length - 1].RequestBody as { value: string }).value);
    expect(imported.thumbprintSha1).toBe(original.thumbprintSha1);
    expect(imported.policy).toMatchObject({ issuerName: 'Unknown', exportable: true, contentType: PKCS12_CONTENT_TYPE });
    expect(new X509Certificate(imported.certificatePem).subject).toBe('CN=MyCert');
  });

  it('When the versions are listed (not in creation order) and each is read, then every version maps with its thumbprint and tags', async () => {
    const { entries, vault } = await open('recording_can_retrieve_all_versions_of_a_certificate.EXCERPT.json');
    const name = 'listCertificateName-canretrieveallversionsofacertificate-';
    const listed = (entries[0].ResponseBody as { value: Array<{ id: string; x5t: string; tags: { tag: string }; attributes: { created: number } }> }).value;

    const versions = await vault.listVersions(name);
    const read = [];
    for (const v of versions) read.push(await vault.get(name, v.version));

    expectWholeRecordingReplayed();
    expect(versions.map((v) => ({ id: v.id, thumbprint: v.thumbprintSha1, tags: v.tags, created: v.createdOn?.getTime() }))).toEqual(
      listed.map((l) => ({ id: l.id, thumbprint: x5tToHex(l.x5t), tags: l.tags, created: l.attributes.created * 1000 })),
    );
    const created = versions.map((v) => v.createdOn!.getTime());
    expect(created).not.toEqual([...created].sort((a, b) => a - b)); // why the deployer does not trust list order
    expect(read.map((c) => c?.thumbprintSha1)).toEqual(versions.map((v) => v.thumbprintSha1));
    expect(read.every((c) => c?.policy === undefined)).toBe(true); // a versioned read carries no policy
  });
});
