import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SqliteAcmeOrderJournal } from '../../shared/adapters/local/sqlite-order-journal';
import { closeDatabase, openDatabase, type Database } from '../../shared/adapters/local/sqlite-database';
import type { JournaledAcmeOrder } from '../../shared/ports/acme-order-journal';

const anOrder = (overrides: Partial<JournaledAcmeOrder> = {}): JournaledAcmeOrder => ({
  tenantId: 'contoso',
  certificateId: 'www',
  directoryUrl: 'https://ca.example/dir',
  orderUrl: 'https://ca.example/order/1',
  dnsNames: ['www.contoso.test'],
  keyType: 'ec-p256',
  createdAt: '2026-11-29T00:00:00.000Z',
  ...overrides,
});

describe('SqliteAcmeOrderJournal', () => {
  let dir: string;
  const dbs: Database[] = [];
  const open = () => {
    const db = openDatabase(path.join(dir, 'certops.db'));
    dbs.push(db);
    return new SqliteAcmeOrderJournal(db);
  };
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certops-journal-'));
  });
  afterEach(() => {
    for (const db of dbs.splice(0)) closeDatabase(db);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('When an order is saved and the process starts again, then the order is still there to resume', async () => {
    await open().save(anOrder());
    expect(await open().get({ tenantId: 'contoso', certificateId: 'www' })).toEqual(anOrder());
  });

  it('When an order is saved again, then the newer entry wins; when cleared, it is gone, twice over', async () => {
    const journal = open();
    await journal.save(anOrder());
    await journal.save(anOrder({ orderUrl: 'https://ca.example/order/2', csrKeyName: 'acme/orders/www' }));
    expect((await journal.get({ tenantId: 'contoso', certificateId: 'www' }))?.orderUrl).toBe('https://ca.example/order/2');
    await journal.clear({ tenantId: 'contoso', certificateId: 'www' });
    await journal.clear({ tenantId: 'contoso', certificateId: 'www' });
    expect(await journal.get({ tenantId: 'contoso', certificateId: 'www' })).toBeNull();
  });

  it('When two tenants have a certificate of the same id, then their orders are kept apart', async () => {
    const journal = open();
    await journal.save(anOrder());
    await journal.save(anOrder({ tenantId: 'fabrikam', orderUrl: 'https://ca.example/order/9' }));
    await journal.clear({ tenantId: 'contoso', certificateId: 'www' });
    expect((await journal.get({ tenantId: 'fabrikam', certificateId: 'www' }))?.orderUrl).toBe('https://ca.example/order/9');
  });
});
