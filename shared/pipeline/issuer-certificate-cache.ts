/**
 * Parsed issuing certificates, remembered across analyses. Across a fleet, endpoints present a
 * few intermediates and roots thousands of times (the 10,000-certificate bench sweep presents one
 * CA 10,000 times); parsing each costs about as much as the leaf. Leaves are not cached: they are
 * mostly distinct. Bounded, least recently used first out; Certificate values are never mutated.
 */
import { parseCertificate, type Certificate } from '../domain/certificate';

export const ISSUER_CACHE_ENTRIES = 1_000;

export class IssuerCertificateCache {
  private readonly entries = new Map<string, Certificate>();

  constructor(private readonly capacity = ISSUER_CACHE_ENTRIES) {}

  /** Parses `base64Der` (throws MalformedCertificateError as parseCertificate does), or returns it from the cache. */
  parse(base64Der: string): Certificate {
    const hit = this.entries.get(base64Der);
    if (hit) {
      this.entries.delete(base64Der);
      this.entries.set(base64Der, hit);
      return hit;
    }
    const parsed = parseCertificate(Buffer.from(base64Der, 'base64'));
    this.entries.set(base64Der, parsed);
    if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value as string);
    return parsed;
  }

  get size(): number {
    return this.entries.size;
  }
}
