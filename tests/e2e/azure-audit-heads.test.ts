/**
 * Issue 11, defect 1 on the Azure runtime: the audit chains in Cosmos DB, their signed heads in the
 * head log's append blobs, signed by the vault's key. The whole Azure composition (createAzureRuntime)
 * runs against its stand-ins, each driven by its real SDK: the Cosmos DB test server, the Key Vault
 * stub (the signing key made as the Pulumi program would), Microsoft's Azurite for the container.
 *
 * Before the head log, the signed head was one more document in the tenant's Cosmos partition:
 * whoever could cut the records could delete or replace it too, and the cut went unseen.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ServiceBusClient } from '@azure/service-bus';
import { auditRecordId } from '../../shared/adapters/azure/cosmos-audit-log';
import { AUDIT_HEAD_KEY_NAME, createKeyVaultKeyClients } from '../../shared/adapters/azure/key-vault-head-signer';
import { createKeyVaultClients } from '../../shared/adapters/azure/key-vault-clients';
import { auditVerify } from '../../shared/cli/main';
import { auditHeadsContainerUrl, createAzureRuntime, type AzureRuntime } from '../../shared/composition-azure';
import type { CertopsConfig } from '../../shared/config/model';
import { ConfigError } from '../../shared/domain/errors';
import { signedHeadPayload } from '../../shared/domain/signed-head';
import { createLogger } from '../../shared/observability/logger';
import { signAuditHeads, verifyTenantAudit } from '../../shared/pipeline/audit-heads';
import { startAzurite, type Azurite } from '../support/azurite';
import { startCosmosServer, type CosmosTestServer } from '../support/cosmos-server';
import { FakeCredential } from '../support/fake-credential';
import { startKeyVaultStub, type KeyVaultStub } from '../support/key-vault-stub';

jest.setTimeout(60_000);

let cosmos: CosmosTestServer;
let vault: KeyVaultStub;
let azurite: Azurite;
let runtime: AzureRuntime;
let databaseId: string;
let dir: string;

const config: CertopsConfig = {
  dataDir: '/nonexistent-unused-on-azure',
  discovery: { concurrency: 4, connectTimeoutMs: 1000, handshakeTimeoutMs: 2000 },
  notifications: { console: false },
  sweepSchedule: '0 0 2 * * *',
  tenants: [{ id: 'contoso', assignee: { name: 'Dana' }, endpoints: [] }, { id: 'fabrikam', assignee: { name: 'Dana' }, endpoints: [] }] as never,
};

beforeAll(async () => {
  [cosmos, vault, azurite] = await Promise.all([startCosmosServer(), startKeyVaultStub(), startAzurite()]);
  dir = mkdtempSync(path.join(os.tmpdir(), 'certops-azure-heads-'));
  const credential = new FakeCredential();
  const keyClients = createKeyVaultKeyClients(vault.url, credential, vault.clientOptions({ maxRetries: 0 }));
  await keyClients.keys.createEcKey(AUDIT_HEAD_KEY_NAME, { curve: 'P-256', keyOps: ['sign', 'verify'] }); // what infra/ declares
  const heads = azurite.container(`audit-heads-${randomUUID().slice(0, 8)}`);
  await heads.create();
  const client = cosmos.newClient();
  ({ databaseId } = await cosmos.freshDatabase(client));
  runtime = await createAzureRuntime(
    config,
    {
      cosmosEndpoint: cosmos.endpoint,
      cosmosDatabase: databaseId,
      // Never connected: nothing here publishes an event.
      serviceBus: { connectionString: 'Endpoint=sb://127.0.0.1:1;SharedAccessKeyName=x;SharedAccessKey=y;UseDevelopmentEmulator=true' },
      keyVaultUrl: vault.url,
      clientAppId: null,
    },
    {
      credentials: { platform: () => credential, forClientTenant: () => credential },
      clients: {
        cosmos: client,
        serviceBus: new ServiceBusClient('Endpoint=sb://127.0.0.1:1;SharedAccessKeyName=x;SharedAccessKey=y;UseDevelopmentEmulator=true'),
        keyVault: () => createKeyVaultClients(vault.url, credential, vault.clientOptions({ maxRetries: 0 })),
        keyVaultKeys: () => keyClients,
        auditHeads: heads,
      },
      logger: createLogger({ level: 'silent' }),
      notify: false,
    },
  );
  for (const tenant of ['contoso', 'fabrikam']) {
    for (let i = 1; i <= 5; i++) await runtime.deps.audit.append(tenant, { kind: 'certificate.discovered', actor: 'stage:discover', correlationId: `c${i}`, data: { i } });
  }
});
afterAll(async () => {
  await runtime?.close();
  await Promise.all([cosmos?.close(), vault?.close(), azurite?.close()]);
  rmSync(dir, { recursive: true, force: true });
});

it('When the Azure runtime signs the heads, then they are ES256 signatures of the vault key, kept in the head log, and the audit verifies', async () => {
  const signed = await signAuditHeads(runtime.deps);

  expect(signed.map((h) => [h.tenantId, h.seq, h.index])).toEqual([['contoso', 5, 1], ['fabrikam', 5, 2]]);
  expect(signed.every((h) => h.algorithm === 'ES256' && h.keyId === vault.keyVersions(AUDIT_HEAD_KEY_NAME)[0].kid)).toBe(true);
  expect(vault.requests.filter((r) => r.path.endsWith('/sign') && r.status === 200)).toHaveLength(2);
  expect(await runtime.deps.auditSigner.verify(signedHeadPayload(signed[0]), signed[0].signature, signed[0].keyId)).toBe(true);
  expect(await verifyTenantAudit(runtime.deps, 'contoso')).toMatchObject({ ok: true, count: 5, signedHead: signed[0] });
});

it("When the tail of a Cosmos chain is cut, its head document moved back and its signed head deleted, then verify names the records the signed head says existed", async () => {
  const audit = cosmos.containers(cosmos.newClient(), databaseId).audit;
  await audit.item(auditRecordId(5), 'contoso').delete();
  await audit.item(auditRecordId(4), 'contoso').delete();
  const { resource: head } = await audit.item('head', 'contoso').read<{ seq: number; hash: string }>();
  const third = (await runtime.deps.audit.list('contoso'))[2];
  await audit.item('head', 'contoso').replace({ ...head, seq: 3, hash: third.hash });
  // Where the signed head used to be kept, in the same partition: gone with the records.
  await audit.item('signed-head', 'contoso').delete().catch(() => undefined);

  const lines: string[] = [];
  const code = await auditVerify(runtime.deps, undefined, (t) => lines.push(t));

  expect(lines).toEqual(
    expect.arrayContaining([
      expect.stringMatching(/^audit contoso: TAMPERED: records 4 to 5 of tenant contoso are missing: the head signed at .* \(head log entry 1\)/),
      expect.stringMatching(/^audit fabrikam: 5 records, chain intact; head signed at record 5 \(entry 2, .*\/keys\/audit-head-signing\//),
    ]),
  );
  expect(code).toBe(1);
});

it('When a witness kept a head, then audit verify --head checks it against the Azure stores too', async () => {
  const witness = path.join(dir, 'fabrikam-head.json');
  writeFileSync(witness, JSON.stringify(await runtime.deps.auditHeads.latest('fabrikam')));
  const lines: string[] = [];
  await auditVerify(runtime.deps, ['fabrikam'], (t) => lines.push(t), { witnessFile: witness });
  expect(lines).toEqual([expect.stringMatching(/^audit fabrikam: 5 records, chain intact; .*; the witness head agrees$/)]);
});

it('When no storage account is named, then the Azure runtime says which setting names it', () => {
  expect(auditHeadsContainerUrl({ AzureWebJobsStorage__accountName: 'stcertops1234' })).toBe('https://stcertops1234.blob.core.windows.net/audit-heads');
  expect(auditHeadsContainerUrl({ AzureWebJobsStorage__blobServiceUri: 'https://st.blob.core.usgovcloudapi.net/' })).toBe('https://st.blob.core.usgovcloudapi.net/audit-heads');
  expect(() => auditHeadsContainerUrl({})).toThrow(ConfigError);
  expect(() => auditHeadsContainerUrl({})).toThrow(/AzureWebJobsStorage__accountName/);
});
