/**
 * A local HTTPS stub of the Azure DNS ARM record-set API (api-version 2018-05-01), TXT records
 * only: Get, Create Or Update, Delete under
 * `/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network/dnsZones/{zone}/TXT/{name}`.
 *
 * It checks what a real ARM would refuse (bearer token, api-version, body shape, If-Match /
 * If-None-Match) and answers with Azure's shapes: 200/201 with the RecordSet JSON and an ETag,
 * 200/204 on delete, 404 `{"code":"NotFound"}` for a missing record set (Azure DNS's bare shape),
 * 404 `{"error":{"code":"ParentResourceNotFound"}}` for a missing zone, 401
 * InvalidAuthenticationToken, 412 PreconditionFailed. Every TXT set it holds is mirrored into
 * pebble-challtestsrv (`/clear-txt` then `/set-txt` per value) when given its management URL, so
 * a real CA (Pebble) validates what was written "in Azure".
 */
import { randomUUID } from 'node:crypto';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { localhostTlsMaterial } from '../../shared/adapters/local/certificate-factory';

export interface StubRequest {
  method: string;
  path: string;
  apiVersion: string | null;
  authorization: string | undefined;
  ifMatch: string | undefined;
  ifNoneMatch: string | undefined;
  body: unknown;
}

export interface AzureDnsStubOptions {
  subscriptionId: string;
  resourceGroup: string;
  zones: string[];
  /** The only bearer token accepted. */
  token: string;
  /** pebble-challtestsrv management URL to mirror TXT sets into. */
  challtestsrvUrl?: string;
}

interface StoredSet {
  etag: string;
  ttl: number;
  values: string[][];
}

export interface AzureDnsStub {
  url: string;
  caPem: string;
  readonly requests: StubRequest[];
  /** TXT values held at `name` (relative) in `zone`; undefined when the set does not exist. */
  txt(zone: string, name: string): string[] | undefined;
  /** The next `times` requests are answered with `status` and an ARM error body. */
  failNext(status: number, times?: number): void;
  close(): Promise<void>;
}

const API_VERSION = '2018-05-01';

export async function startAzureDnsStub(options: AzureDnsStubOptions): Promise<AzureDnsStub> {
  const tls = await localhostTlsMaterial('certops test Azure ARM stub CA');
  const zones = new Map(options.zones.map((z) => [z.toLowerCase(), new Map<string, StoredSet>()]));
  const requests: StubRequest[] = [];
  let failures: { status: number; times: number } | null = null;
  const prefix = `/subscriptions/${options.subscriptionId}/resourceGroups/${options.resourceGroup}/providers/Microsoft.Network/dnsZones/`.toLowerCase();

  const mirror = async (zone: string, name: string, set: StoredSet | undefined) => {
    if (!options.challtestsrvUrl) return;
    const host = `${name === '@' ? zone : `${name}.${zone}`}.`;
    const post = async (path: string, body: object) => {
      const res = await fetch(`${options.challtestsrvUrl}${path}`, { method: 'POST', body: JSON.stringify(body) });
      if (!res.ok) throw new Error(`challtestsrv ${path} answered ${res.status}`);
    };
    await post('/clear-txt', { host });
    for (const value of set?.values ?? []) await post('/set-txt', { host, value: value.join('') });
  };

  const handle = async (method: string, url: URL, headers: Record<string, string | string[] | undefined>, body: unknown): Promise<{ status: number; body?: object; headers?: Record<string, string> }> => {
    const auth = headers.authorization;
    if (auth !== `Bearer ${options.token}`) {
      return { status: 401, body: armError('InvalidAuthenticationToken', 'The access token is invalid.'), headers: { 'WWW-Authenticate': 'Bearer authorization_uri="https://login.microsoftonline.com/common", error="invalid_token"' } };
    }
    if (failures && failures.times > 0) {
      failures.times--;
      return { status: failures.status, body: armError(failures.status === 429 ? 'TooManyRequests' : 'ServiceUnavailable', 'Injected failure.'), headers: { 'Retry-After': '1' } };
    }
    if (url.searchParams.get('api-version') !== API_VERSION) {
      return { status: 400, body: armError('InvalidApiVersionParameter', `The api-version '${url.searchParams.get('api-version')}' is invalid.`) };
    }
    const path = decodeURIComponent(url.pathname);
    if (!path.toLowerCase().startsWith(prefix)) return { status: 404, body: armError('ResourceGroupNotFound', `Resource group '${options.resourceGroup}' could not be found.`) };
    const match = /^([^/]+)\/TXT\/([^/]+)$/i.exec(path.slice(prefix.length));
    if (!match) return { status: 400, body: armError('BadRequest', `unsupported path ${path}`) };
    const zone = match[1].toLowerCase();
    const name = match[2].toLowerCase();
    const sets = zones.get(zone);
    if (!sets) {
      return { status: 404, body: armError('ParentResourceNotFound', `Can not perform requested operation on nested resource. Parent resource '${zone}' not found.`) };
    }
    const current = sets.get(name);
    const ifMatch = headers['if-match'] as string | undefined;
    const ifNoneMatch = headers['if-none-match'] as string | undefined;
    if ((ifMatch && ifMatch !== current?.etag) || (ifNoneMatch === '*' && current)) {
      return { status: 412, body: armError('PreconditionFailed', 'The condition specified using HTTP conditional header(s) is not met.') };
    }
    const recordSet = (set: StoredSet) => ({
      id: `/subscriptions/${options.subscriptionId}/resourceGroups/${options.resourceGroup}/providers/Microsoft.Network/dnszones/${zone}/TXT/${name}`,
      name,
      type: 'Microsoft.Network/dnszones/TXT',
      etag: set.etag,
      properties: {
        metadata: {},
        TTL: set.ttl,
        fqdn: `${name === '@' ? zone : `${name}.${zone}`}.`,
        provisioningState: 'Succeeded',
        targetResource: {},
        TXTRecords: set.values.map((value) => ({ value })),
      },
    });
    switch (method) {
      case 'GET':
        if (!current) {
          // Azure DNS answers a missing record set with a bare (unwrapped) error body.
          return { status: 404, body: { code: 'NotFound', message: `The resource record '${name}' does not exist in resource group '${options.resourceGroup}' of subscription '${options.subscriptionId}'.` } };
        }
        return { status: 200, body: recordSet(current), headers: { ETag: current.etag } };
      case 'PUT': {
        const problem = txtBodyProblem(body);
        if (problem) return { status: 400, body: armError('BadRequest', problem) };
        const props = (body as { properties: { TTL: number; TXTRecords: Array<{ value: string[] }> } }).properties;
        const set: StoredSet = { etag: randomUUID(), ttl: props.TTL, values: props.TXTRecords.map((r) => r.value) };
        sets.set(name, set);
        await mirror(zone, name, set);
        return { status: current ? 200 : 201, body: recordSet(set), headers: { ETag: set.etag } };
      }
      case 'DELETE':
        if (!current) return { status: 204 };
        sets.delete(name);
        await mirror(zone, name, undefined);
        return { status: 200 };
      default:
        return { status: 405, body: armError('MethodNotAllowed', `${method} is not supported`) };
    }
  };

  const server = https.createServer({ cert: tls.certPem, key: tls.keyPem }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'https://localhost');
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown = undefined;
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        body = text;
      }
      requests.push({
        method: req.method ?? '',
        path: url.pathname,
        apiVersion: url.searchParams.get('api-version'),
        authorization: req.headers.authorization,
        ifMatch: req.headers['if-match'],
        ifNoneMatch: req.headers['if-none-match'],
        body,
      });
      handle(req.method ?? '', url, req.headers, body).then(
        (answer) => {
          res.writeHead(answer.status, { ...(answer.body ? { 'Content-Type': 'application/json; charset=utf-8' } : {}), ...answer.headers });
          res.end(answer.body ? JSON.stringify(answer.body) : undefined);
        },
        (err: unknown) => {
          res.writeHead(500, { 'Content-Type': 'application/json' });
          res.end(JSON.stringify(armError('InternalServerError', String(err))));
        },
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `https://127.0.0.1:${port}`,
    caPem: tls.caPem,
    requests,
    txt: (zone, name) => zones.get(zone.toLowerCase())?.get(name.toLowerCase())?.values.map((v) => v.join('')),
    failNext: (status, times = 1) => {
      failures = { status, times };
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function armError(code: string, message: string): object {
  return { error: { code, message } };
}

/** The Create Or Update body of a TXT record set: `properties.TTL` and `properties.TXTRecords[].value[]`. */
function txtBodyProblem(body: unknown): string | null {
  const props = (body as { properties?: unknown } | undefined)?.properties as { TTL?: unknown; TXTRecords?: unknown } | undefined;
  if (!props || typeof props !== 'object') return 'properties is required';
  if (typeof props.TTL !== 'number' || props.TTL < 1) return 'properties.TTL must be a positive number';
  if (!Array.isArray(props.TXTRecords) || props.TXTRecords.length === 0) return 'properties.TXTRecords must be a non-empty array';
  for (const record of props.TXTRecords as Array<{ value?: unknown }>) {
    if (!Array.isArray(record?.value) || record.value.length === 0 || record.value.some((v) => typeof v !== 'string' || v.length > 255)) {
      return 'each TXTRecords[].value must be a non-empty array of strings of at most 255 characters';
    }
  }
  return null;
}

