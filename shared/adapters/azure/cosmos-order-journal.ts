/**
 * CosmosAcmeOrderJournal: the AcmeOrderJournal (ports/acme-order-journal.ts) in the Cosmos DB
 * `state` container, one document per (tenant, certificate):
 * `{ id: 'acme-order:<certificateId>', tenantId, type: 'acme-order', certificateId, record }`.
 * Every request names the tenant's partition key. `save` is an upsert that resolves only once the
 * service acknowledged the write (Cosmos DB commits a write to a quorum of replicas before it
 * answers), which is the durability the issuer relies on before finalize.
 */
import type { Container } from '@azure/cosmos';
import type { AcmeOrderJournal, AcmeOrderJournalKey, JournaledAcmeOrder } from '../../ports/acme-order-journal';
import { NOT_FOUND, cosmosStatus, documentId } from './cosmos-document-id';

const TYPE = 'acme-order';

interface OrderDocument {
  id: string;
  tenantId: string;
  type: string;
  certificateId: string;
  record: JournaledAcmeOrder;
}

export class CosmosAcmeOrderJournal implements AcmeOrderJournal {
  /** `state`: the layout's `state` container (partition key `/tenantId`). */
  constructor(private readonly state: Container) {}

  async get(key: AcmeOrderJournalKey): Promise<JournaledAcmeOrder | null> {
    const response = await this.state.item(documentId(TYPE, key.certificateId), key.tenantId).read<OrderDocument>();
    const document = response.resource;
    if (response.statusCode === NOT_FOUND || !document || document.tenantId !== key.tenantId || document.type !== TYPE) return null;
    return document.record;
  }

  async save(entry: JournaledAcmeOrder): Promise<void> {
    const document: OrderDocument = {
      id: documentId(TYPE, entry.certificateId),
      tenantId: entry.tenantId,
      type: TYPE,
      certificateId: entry.certificateId,
      record: entry,
    };
    await this.state.items.upsert(document);
  }

  async clear(key: AcmeOrderJournalKey): Promise<void> {
    try {
      await this.state.item(documentId(TYPE, key.certificateId), key.tenantId).delete();
    } catch (err) {
      if (cosmosStatus(err) !== NOT_FOUND) throw err;
    }
  }
}
