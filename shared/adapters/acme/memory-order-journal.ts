/**
 * MemoryAcmeOrderJournal: the AcmeOrderJournal in a Map, for tests and single-process use. It
 * survives the loss of an AcmeIssuer (an aborted issuance, a rebuilt issuer) but not of the
 * process: a deployment that must resume across restarts needs a persistent journal.
 */
import type { AcmeOrderJournal, AcmeOrderJournalKey, JournaledAcmeOrder } from '../../ports/acme-order-journal';

export class MemoryAcmeOrderJournal implements AcmeOrderJournal {
  private readonly entries = new Map<string, JournaledAcmeOrder>();

  async get(key: AcmeOrderJournalKey): Promise<JournaledAcmeOrder | null> {
    const entry = this.entries.get(mapKey(key));
    return entry ? structuredClone(entry) : null;
  }

  async save(entry: JournaledAcmeOrder): Promise<void> {
    // A copy, so that a caller mutating its object later cannot change what was "persisted".
    this.entries.set(mapKey(entry), structuredClone(entry));
  }

  async clear(key: AcmeOrderJournalKey): Promise<void> {
    this.entries.delete(mapKey(key));
  }

  /** Number of orders in flight (for tests and diagnostics). */
  get size(): number {
    return this.entries.size;
  }
}

function mapKey(key: AcmeOrderJournalKey): string {
  return JSON.stringify([key.tenantId, key.certificateId]);
}
