/**
 * A stand-in for Application Insights ingestion ("Breeze") on 127.0.0.1, port 0: accepts
 * `POST /v2.1/track` (and `/v2/track`, the older path) with a JSON array or newline-delimited
 * JSON envelopes, gzip-compressed or not, records every request and envelope, and answers as
 * Breeze does: 200 `{ itemsReceived, itemsAccepted, errors: [] }`, or a chosen status.
 *
 * Plain HTTP: the exporter allows http on loopback only, and a test CA would need the process
 * trust store. `connectionString` is what APPLICATIONINSIGHTS_CONNECTION_STRING would hold.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';

/** The fields of a `Microsoft.ApplicationInsights.Metric` envelope a test looks at. */
export interface ReceivedEnvelope {
  name: string;
  time: string;
  iKey: string;
  tags: Record<string, string>;
  data: { baseType: string; baseData: { metrics: Array<{ name: string; value: number; count?: number; min?: number; max?: number }>; properties?: Record<string, string> } };
}

export interface TrackRequest {
  path: string;
  headers: http.IncomingHttpHeaders;
  envelopes: ReceivedEnvelope[];
}

/** One metric value as a test asserts on it: name, value, dimensions. */
export interface MetricItem {
  name: string;
  value: number;
  count?: number;
  properties: Record<string, string>;
  time: string;
}

export interface AppInsightsStub {
  connectionString: string;
  requests: TrackRequest[];
  /** Every metric item of every request, in arrival order. */
  metricItems(): MetricItem[];
  /** Later requests get this status (and a Breeze error body); 200 until told otherwise. */
  answer(status: number): void;
  /** Resolves once `count` requests in all have arrived. */
  waitForRequests(count: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export const STUB_INSTRUMENTATION_KEY = '00000000-0000-0000-0000-000000000000';

export async function startAppInsightsStub(): Promise<AppInsightsStub> {
  const requests: TrackRequest[] = [];
  const waiters: Array<() => void> = [];
  let status = 200;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const reply = (code: number, body: unknown): void => {
        res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      };
      if (req.method !== 'POST' || !/^\/v2(\.1)?\/track$/.test(req.url ?? '')) return reply(404, { error: `no route ${req.method} ${req.url}` });
      let envelopes: ReceivedEnvelope[];
      try {
        const raw = Buffer.concat(chunks);
        const text = (req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw).toString('utf8').trim();
        envelopes = text.startsWith('[') ? JSON.parse(text) : text.split('\n').filter(Boolean).map((l) => JSON.parse(l));
      } catch (err) {
        return reply(400, { itemsReceived: 0, itemsAccepted: 0, errors: [{ index: 0, statusCode: 400, message: `unreadable body: ${(err as Error).message}` }] });
      }
      requests.push({ path: req.url!, headers: req.headers, envelopes });
      waiters.splice(0).forEach((w) => w());
      if (status === 200) return reply(200, { itemsReceived: envelopes.length, itemsAccepted: envelopes.length, errors: [] });
      reply(status, { itemsReceived: envelopes.length, itemsAccepted: 0, errors: envelopes.map((_, index) => ({ index, statusCode: status, message: 'refused by the stub' })) });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    connectionString: `InstrumentationKey=${STUB_INSTRUMENTATION_KEY};IngestionEndpoint=http://127.0.0.1:${port}/`,
    requests,
    metricItems: () =>
      requests.flatMap((r) =>
        r.envelopes
          .filter((e) => e.data?.baseType === 'MetricData')
          .flatMap((e) => e.data.baseData.metrics.map((m) => ({ name: m.name, value: m.value, count: m.count, properties: e.data.baseData.properties ?? {}, time: e.time }))),
      ),
    answer: (s) => {
      status = s;
    },
    waitForRequests: async (count, timeoutMs = 5_000) => {
      const deadline = Date.now() + timeoutMs;
      while (requests.length < count) {
        if (Date.now() > deadline) throw new Error(`the App Insights stub received ${requests.length} requests, expected ${count}`);
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, 50);
          waiters.push(() => {
            clearTimeout(t);
            resolve();
          });
        });
      }
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
