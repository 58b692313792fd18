/**
 * DnsRecordLookup: what the CA will see in DNS for a client domain's ACME challenge record.
 *
 * Contract: `challengeCname` returns the CNAME target of `_acme-challenge.<domain>` (a wildcard
 * asked as its base name), or null when there is none; throws RetryableError when the DNS server
 * cannot answer; honours abortSignal.
 */
export interface DnsRecordLookup {
  challengeCname(domain: string, options?: { abortSignal?: AbortSignal }): Promise<string | null>;
}
