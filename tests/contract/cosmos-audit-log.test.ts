/**
 * The AuditLog contract against CosmosAuditLog (real @azure/cosmos SDK, @vercel/cosmosdb-server),
 * plus what only this adapter has: the chain's head, left behind by a crash or run past by a
 * deletion at the end. Tampering goes through the SDK, straight at the documents.
 */
import type { Container } from '@azure/cosmos';
import { auditRecordId, CosmosAuditLog } from '../../shared/adapters/azure/cosmos-audit-log';
import { auditChainKey } from '../../shared/adapters/local/sqlite-audit-log';
import { fixedClock } from '../../shared/domain/clock';
import { useCosmosServer } from '../support/cosmos-server';
import { anAuditEntry, auditLogContract } from './audit-log.contract';

const cosmos = useCosmosServer();

auditLogContract('CosmosAuditLog', async ({ clock, key }) => {
  const { audit, close } = cosmos.connect();
  return {
    log: new CosmosAuditLog(audit, clock, key),
    async overwrite(record) {
      await audit.items.upsert({ id: auditRecordId(record.seq), type: 'record', ...record });
    },
    async remove(tenantId, seq) {
      await audit.item(auditRecordId(seq), tenantId).delete();
    },
    close,
  };
});

describe('CosmosAuditLog head', () => {
  const clock = fixedClock('2025-03-01T00:00:00.000Z');
  const key = auditChainKey(Buffer.alloc(32, 7));
  // Each call is another instance (a client of its own); the server disposes the clients at the end.
  const auditContainer = (): Container => cosmos.connect().audit;
  const readHead = async (audit: Container, tenantId: string) =>
    (await audit.item('head', tenantId).read<{ seq: number; hash: string }>()).resource;

  it('When another instance appends while verify reads, then a healthy chain is not reported as truncated', async () => {
    const writer = new CosmosAuditLog(auditContainer(), clock, key);
    for (let n = 1; n <= 3; n++) await writer.append('contoso', anAuditEntry({ data: { n } }));
    const audit = auditContainer();
    // Another instance appends while this one reads: right after this one has listed the records.
    const items = audit.items;
    const query = items.query.bind(items);
    let appended = false;
    (items as unknown as { query: typeof items.query }).query = ((...args: Parameters<typeof items.query>) => {
      const iterator = query(...args);
      const fetchAll = iterator.fetchAll.bind(iterator);
      iterator.fetchAll = async () => {
        const listed = await fetchAll();
        if (!appended) {
          appended = true;
          await writer.append('contoso', anAuditEntry({ data: { n: 4 } }));
        }
        return listed;
      };
      return iterator;
    }) as typeof items.query;
    const reader = new CosmosAuditLog(audit, clock, key);
    expect(await reader.verify('contoso')).toMatchObject({ ok: true });
    expect(appended).toBe(true);
  });

  it('When a crash left a record past the head, then the next append, from another instance, builds on that record and repairs the head', async () => {
    const audit = auditContainer();
    const before = new CosmosAuditLog(audit, clock, key);
    for (let n = 1; n <= 3; n++) await before.append('contoso', anAuditEntry({ data: { n } }));
    const [, second] = await before.list('contoso');
    // The crash: record 3 was created, its head update never happened.
    const head = await readHead(audit, 'contoso');
    await audit.item('head', 'contoso').replace({ ...head, seq: second.seq, hash: second.hash });

    const after = new CosmosAuditLog(auditContainer(), clock, key);
    const next = await after.append('contoso', anAuditEntry({ data: { n: 4 } }));

    expect(next.seq).toBe(4);
    expect(await after.verify('contoso')).toEqual({ ok: true, count: 4 });
    expect(await readHead(audit, 'contoso')).toMatchObject({ seq: 4, hash: next.hash });
  });

  it('When four instances append for two tenants at once, then each tenant\'s chain is dense from 1 and verifies', async () => {
    const logs = [0, 1, 2, 3].map(() => new CosmosAuditLog(auditContainer(), clock, key));
    await Promise.all(
      Array.from({ length: 160 }, (_, i) => logs[i % 4].append(i % 3 === 0 ? 'fabrikam' : 'contoso', anAuditEntry({ data: { i } }))),
    );

    const contoso = await logs[0].list('contoso');
    const fabrikam = await logs[1].list('fabrikam');
    expect(contoso.map((r) => r.seq)).toEqual(Array.from({ length: contoso.length }, (_, i) => i + 1));
    expect(fabrikam.map((r) => r.seq)).toEqual(Array.from({ length: fabrikam.length }, (_, i) => i + 1));
    expect(contoso.length + fabrikam.length).toBe(160);
    expect(await logs[2].verify('contoso')).toEqual({ ok: true, count: contoso.length });
    expect(await logs[3].verify('fabrikam')).toEqual({ ok: true, count: fabrikam.length });
  });

  it('When records are deleted from the end of the chain, then verification names the first missing one', async () => {
    const audit = auditContainer();
    const log = new CosmosAuditLog(audit, clock, key);
    for (let n = 1; n <= 5; n++) await log.append('contoso', anAuditEntry({ data: { n } }));

    await audit.item(auditRecordId(5), 'contoso').delete();
    await audit.item(auditRecordId(4), 'contoso').delete();

    expect(await log.verify('contoso')).toMatchObject({ ok: false, seq: 4, problem: 'sequence-gap' });
  });

  it('When the last record is replaced by another validly hashed record, then verification names it', async () => {
    const audit = auditContainer();
    const log = new CosmosAuditLog(audit, clock, key);
    for (let n = 1; n <= 3; n++) await log.append('contoso', anAuditEntry({ data: { n } }));
    const copy = new CosmosAuditLog(auditContainer(), clock, key);
    await audit.item(auditRecordId(3), 'contoso').delete();
    // Someone holding the key re-appends record 3 with other content, but leaves the head alone.
    const head = await readHead(audit, 'contoso');
    await audit.item('head', 'contoso').replace({ ...head, seq: 2, hash: (await log.list('contoso'))[1].hash });
    await copy.append('contoso', anAuditEntry({ data: { n: 'forged' } }));
    await audit.item('head', 'contoso').replace({ ...(await readHead(audit, 'contoso')), seq: head!.seq, hash: head!.hash });

    expect(await log.verify('contoso')).toMatchObject({ ok: false, seq: 3, problem: 'broken-link' });
  });
});
