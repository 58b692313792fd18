/**
 * AcmeOrderJournal: remembers the ACME order in flight for each managed certificate, so that an
 * issuance interrupted by a crash (or an abort, or a redelivery) continues the same order at the
 * CA instead of creating a duplicate (RFC 8555 §7.4: an order is a resource at a URL the client
 * can fetch again with POST-as-GET until it is valid or invalid).
 *
 * Contract:
 * - One entry per (tenantId, certificateId): `save` overwrites, `get` returns null when absent,
 *   `clear` is idempotent and succeeds when there is nothing to clear.
 * - The entry holds no secret: the CSR's private key, once generated, is kept encrypted in the
 *   KeyStore under `csrKeyName` (the journal only says that it is there).
 * - Entries are written by one issuance at a time per certificate (callers already guard
 *   issuance with the rotation's idempotency key); implementations need not lock.
 * - Implementations that persist must make `save` durable before resolving: the issuer saves
 *   right after newOrder and before finalize, and relies on the entry surviving a crash.
 */
export interface AcmeOrderJournalKey {
  tenantId: string;
  certificateId: string;
}

export interface JournaledAcmeOrder extends AcmeOrderJournalKey {
  /** The directory the order was placed at: an order URL means nothing at another CA. */
  directoryUrl: string;
  /** The order's URL (the Location of the newOrder response, RFC 8555 §7.4). */
  orderUrl: string;
  /** The identifiers ordered, sorted; an entry for other names is not resumed. */
  dnsNames: string[];
  keyType: 'ec-p256' | 'rsa-2048';
  /**
   * KeyStore name of the CSR's private key, set just before finalize: once the order is
   * finalized only that key matches the certificate the CA will hand out.
   */
  csrKeyName?: string;
  /** When the order was created (ISO 8601), for operators reading the journal. */
  createdAt: string;
  /**
   * The caller's idempotency key (a rotation id): such an entry outlives the download of its
   * certificate until the caller releases it, so a repeated issuance gets the same certificate.
   */
  idempotencyKey?: string;
}

export interface AcmeOrderJournal {
  get(key: AcmeOrderJournalKey): Promise<JournaledAcmeOrder | null>;
  save(entry: JournaledAcmeOrder): Promise<void>;
  clear(key: AcmeOrderJournalKey): Promise<void>;
}
