/**
 * The AcmeOrderJournal contract (shared/ports/acme-order-journal.ts), written once and run against
 * every adapter: `acmeOrderJournalContract('SqliteAcmeOrderJournal', makeJournal)`. Every
 * `makeJournal` call within one test opens another journal over the same storage (a restart).
 */
import type { AcmeOrderJournal, JournaledAcmeOrder } from '../../shared/ports/acme-order-journal';

export interface JournalHandle {
  journal: AcmeOrderJournal;
  close(): Promise<void>;
}

export const anOrder = (overrides: Partial<JournaledAcmeOrder> = {}): JournaledAcmeOrder => ({
  tenantId: 'contoso',
  certificateId: 'www',
  directoryUrl: 'https://ca.example/dir',
  orderUrl: 'https://ca.example/order/1',
  dnsNames: ['www.contoso.test'],
  keyType: 'ec-p256',
  createdAt: '2026-11-29T00:00:00.000Z',
  ...overrides,
});

export function acmeOrderJournalContract(name: string, makeJournal: () => Promise<JournalHandle>): void {
  describe(`${name} (AcmeOrderJournal contract)`, () => {
    const open: JournalHandle[] = [];
    async function aJournal(): Promise<AcmeOrderJournal> {
      const handle = await makeJournal();
      open.push(handle);
      return handle.journal;
    }
    afterEach(async () => {
      for (const handle of open.splice(0)) await handle.close();
    });

    it('When nothing was saved, then get returns null and clear succeeds', async () => {
      const journal = await aJournal();
      expect(await journal.get({ tenantId: 'contoso', certificateId: 'www' })).toBeNull();
      await expect(journal.clear({ tenantId: 'contoso', certificateId: 'www' })).resolves.toBeUndefined();
    });

    it('When an order is saved and the process starts again, then the order is still there to resume, whole', async () => {
      const saved = anOrder({ csrKeyName: 'acme/orders/www', idempotencyKey: 'sweep-1:www', dnsNames: ['a.contoso.test', 'www.contoso.test'], keyType: 'rsa-2048' });
      await (await aJournal()).save(saved);
      expect(await (await aJournal()).get({ tenantId: 'contoso', certificateId: 'www' })).toEqual(saved);
    });

    it('When an order is saved again, then the newer entry wins; when cleared, it is gone, twice over', async () => {
      const journal = await aJournal();
      await journal.save(anOrder());
      await journal.save(anOrder({ orderUrl: 'https://ca.example/order/2', csrKeyName: 'acme/orders/www' }));
      expect((await journal.get({ tenantId: 'contoso', certificateId: 'www' }))?.orderUrl).toBe('https://ca.example/order/2');
      await journal.clear({ tenantId: 'contoso', certificateId: 'www' });
      await journal.clear({ tenantId: 'contoso', certificateId: 'www' });
      expect(await journal.get({ tenantId: 'contoso', certificateId: 'www' })).toBeNull();
    });

    it('When two tenants have a certificate of the same id, then their orders are kept apart', async () => {
      const journal = await aJournal();
      await journal.save(anOrder());
      await journal.save(anOrder({ tenantId: 'fabrikam', orderUrl: 'https://ca.example/order/9' }));
      await journal.clear({ tenantId: 'contoso', certificateId: 'www' });
      expect((await journal.get({ tenantId: 'fabrikam', certificateId: 'www' }))?.orderUrl).toBe('https://ca.example/order/9');
      expect(await journal.get({ tenantId: 'contoso', certificateId: 'www' })).toBeNull();
    });

    it.each([
      { case: 'a slash', certificateId: 'contoso/www' },
      { case: 'a backslash', certificateId: 'contoso\\www' },
      { case: 'a question mark and a hash', certificateId: 'www?x=1#frag' },
      { case: 'the escape character itself', certificateId: 'www~2F' },
      { case: 'a very long id', certificateId: 'w'.repeat(400) },
    ])('When the certificate id has $case, then its order is kept under that id and no other', async ({ certificateId }) => {
      const journal = await aJournal();
      await journal.save(anOrder({ certificateId, orderUrl: 'https://ca.example/order/odd' }));
      await journal.save(anOrder({ certificateId: 'www/', orderUrl: 'https://ca.example/order/neighbour' }));
      expect((await journal.get({ tenantId: 'contoso', certificateId }))?.orderUrl).toBe('https://ca.example/order/odd');
      expect(await journal.get({ tenantId: 'contoso', certificateId: 'www' })).toBeNull();
      await journal.clear({ tenantId: 'contoso', certificateId });
      expect(await journal.get({ tenantId: 'contoso', certificateId })).toBeNull();
      expect((await journal.get({ tenantId: 'contoso', certificateId: 'www/' }))?.orderUrl).toBe('https://ca.example/order/neighbour');
    });
  });
}
