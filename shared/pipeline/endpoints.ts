/**
 * Endpoint identity: how a configured endpoint becomes the `EndpointRef` carried by events.
 * The id is `host:port`, plus `/sni` when the SNI name differs from the host; IP-literal hosts
 * get no SNI (RFC 6066 §3: literal IPv4 and IPv6 addresses are not permitted in SNI).
 */
import { isIP } from 'node:net';
import type { EndpointConfig } from '../config/model';
import type { EndpointRef } from './event-data';

export function endpointRef(endpoint: EndpointConfig): EndpointRef {
  const host = endpoint.host.toLowerCase().replace(/\.$/, '');
  const sni = endpoint.sni ?? (isIP(host) ? null : host);
  const base = `${host}:${endpoint.port}`;
  return {
    endpointId: sni && sni !== host ? `${base}/${sni}` : base,
    host,
    port: endpoint.port,
    servername: sni,
    managedCertificateId: endpoint.managed ?? null,
  };
}
