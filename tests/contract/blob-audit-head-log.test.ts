/**
 * The AuditHeadLog contract against BlobAuditHeadLog, with the real @azure/storage-blob SDK
 * against Microsoft's Azurite (tests/support/azurite.ts: HTTPS, bearer tokens checked), plus what
 * only the Blob log has: segments (an append blob holds at most 50,000 blocks) through which the
 * chain runs on. Each test gets a container of its own; each instance is another SDK client.
 *
 * What Azurite cannot show: the container's immutability policy. On Azure the deletion below is
 * refused (a time-based retention policy protects every blob of the container until it expires);
 * Azurite performs it, so the test shows only that verification would name it if it happened.
 */
import { randomUUID } from 'node:crypto';
import type { ContainerClient } from '@azure/storage-blob';
import { BlobAuditHeadLog, segmentName } from '../../shared/adapters/azure/blob-audit-head-log';
import { headSignerFrom } from '../../shared/adapters/local/ed25519-head-signer';
import { checkHeadLog } from '../../shared/domain/signed-head';
import { HeadLogConflictError } from '../../shared/ports/audit-head-log';
import { startAzurite, StorageTokenCredential, type Azurite } from '../support/azurite';
import { aHeadAfter, auditHeadLogContract } from './audit-head-log.contract';

jest.setTimeout(30_000);

let azurite: Azurite;
let containerName: string;
beforeAll(async () => {
  azurite = await startAzurite();
});
afterAll(async () => azurite?.close());
beforeEach(async () => {
  containerName = `heads-${randomUUID().slice(0, 8)}`;
  await azurite.container(containerName).create();
});

async function lastSegment(container: ContainerClient): Promise<string> {
  const names: string[] = [];
  for await (const blob of container.listBlobsFlat()) names.push(blob.name);
  return names.sort().at(-1)!;
}

auditHeadLogContract('BlobAuditHeadLog', async () => {
  const container = azurite.container(containerName);
  return {
    log: new BlobAuditHeadLog(container),
    async appendRaw(text) {
      const bytes = Buffer.from(text, 'utf8');
      await container.getAppendBlobClient(await lastSegment(container)).appendBlock(bytes, bytes.length);
    },
    close: async () => undefined,
  };
});

describe('BlobAuditHeadLog segments', () => {
  const signer = headSignerFrom(Buffer.alloc(32, 9));
  const verify = (payload: Buffer, signature: string, keyId: string) => signer.verify(payload, signature, keyId);

  it('When a segment is full, then the next one begins and the chain runs on across them, read in order', async () => {
    const container = azurite.container(containerName);
    const log = new BlobAuditHeadLog(container, { maxBlocksPerSegment: 3 });
    for (let seq = 1; seq <= 7; seq++) await log.append(await aHeadAfter(await log.end(), seq % 2 ? 'contoso' : 'fabrikam', seq));

    const names: string[] = [];
    for await (const blob of container.listBlobsFlat()) names.push(blob.name);
    expect(names.sort()).toEqual([segmentName(1), segmentName(2), segmentName(3)]);
    const entries = await log.read();
    expect(entries.map((e) => e.head?.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(entries.map((e) => e.position)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(await checkHeadLog(entries, verify)).toEqual([]);
    expect(await new BlobAuditHeadLog(azurite.container(containerName)).latest('contoso')).toMatchObject({ seq: 7, index: 7 });
  });

  it('When another instance appends between this one reading the end and appending, then the service refuses the block (appendPosition) and nothing is written twice', async () => {
    const other = new BlobAuditHeadLog(azurite.container(containerName));
    await other.append(await aHeadAfter(await other.end(), 'contoso', 1));
    const container = azurite.container(containerName);
    const getAppendBlobClient = container.getAppendBlobClient.bind(container);
    let raced = false;
    container.getAppendBlobClient = (name: string) => {
      const client = getAppendBlobClient(name);
      const appendBlock = client.appendBlock.bind(client);
      client.appendBlock = async (...args: Parameters<typeof client.appendBlock>) => {
        if (!raced) {
          raced = true; // the other instance gets in first, after this one checked the end
          await other.append(await aHeadAfter(await other.end(), 'fabrikam', 1));
        }
        return appendBlock(...args);
      };
      return client;
    };
    const log = new BlobAuditHeadLog(container);

    const error = await log.append(await aHeadAfter(await log.end(), 'contoso', 2)).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(HeadLogConflictError);
    expect((error as Error).message).toMatch(/appended to heads-000001.jsonl of the head log first/);
    expect((await log.read()).map((e) => e.head?.tenantId)).toEqual(['contoso', 'fabrikam']);
  });

  it('When every request is made, then it carries a bearer token (the managed identity in production), never a key', async () => {
    const credential = new StorageTokenCredential();
    const log = new BlobAuditHeadLog(azurite.container(containerName, credential));
    await log.append(await aHeadAfter(await log.end(), 'contoso', 1));
    expect(credential.calls).toBeGreaterThan(0);
    await expect(new BlobAuditHeadLog(azurite.container(containerName, { getToken: async () => ({ token: 'not-a-jwt', expiresOnTimestamp: Date.now() + 60_000 }) })).read()).rejects.toMatchObject({ statusCode: 403 });
  });

  it('When a whole segment is deleted (Azure refuses this under the retention policy; Azurite does not), then the head log names the gap', async () => {
    const container = azurite.container(containerName);
    const log = new BlobAuditHeadLog(container, { maxBlocksPerSegment: 2 });
    for (let seq = 1; seq <= 5; seq++) await log.append(await aHeadAfter(await log.end(), 'contoso', seq));

    await container.getBlobClient(segmentName(2)).delete();

    const findings = await checkHeadLog(await log.read(), verify);
    expect(findings).toEqual([{ tenantId: 'contoso', position: 3, message: expect.stringMatching(/^head log entry 5 \(line 3\) does not follow .* entry 4 was deleted/) }]);
  });
});
