/**
 * ServiceBusEventBus through the real @azure/service-bus SDK against the rhea test broker
 * (tests/support/service-bus-broker.ts) on loopback: the EventBus contract, then what only
 * Service Bus does (lock renewal, scheduled messages, CBS tokens, the wire shape of an event).
 */
import * as net from 'node:net';
import { ServiceBusClient, type ServiceBusClientOptions } from '@azure/service-bus';
import type { AccessToken, TokenCredential } from '@azure/core-auth';
import {
  CLOUDEVENTS_CONTENT_TYPE,
  MAX_DELIVERY_COUNT_EXCEEDED,
  ServiceBusEventBus,
  type ServiceBusEventBusOptions,
} from '../../shared/adapters/azure/service-bus-event-bus';
import type { ReceivedMessage, Settlement } from '../../shared/ports/event-bus';
import { ServiceBusBroker, type ServiceBusBrokerOptions } from '../support/service-bus-broker';
import { anEvent, collectIds, CONTRACT_ROUTES, eventBusContract } from './event-bus.contract';

/** Few, fast retries: a broker on loopback answers at once or not at all. */
const CLIENT_OPTIONS: ServiceBusClientOptions = { retryOptions: { maxRetries: 2, retryDelayInMs: 20, timeoutInMs: 5_000 } };
const complete: Settlement = { kind: 'complete' };
const ANALYZED = CONTRACT_ROUTES[1].topic;

const brokers: ServiceBusBroker[] = [];
const clients: ServiceBusClient[] = [];
const buses: ServiceBusEventBus[] = [];

async function aBroker(options: Partial<ServiceBusBrokerOptions> = {}): Promise<ServiceBusBroker> {
  const broker = await ServiceBusBroker.start({ topics: CONTRACT_ROUTES, lockDurationMs: 5_000, ...options });
  brokers.push(broker);
  return broker;
}

function aClient(broker: ServiceBusBroker): ServiceBusClient {
  const client = new ServiceBusClient(broker.connectionString, CLIENT_OPTIONS);
  clients.push(client);
  return client;
}

function aBus(client: ServiceBusClient, options: Partial<ServiceBusEventBusOptions> = {}): ServiceBusEventBus {
  const bus = new ServiceBusEventBus({ client, routes: CONTRACT_ROUTES, idlePollIntervalInMs: 10, ...options });
  buses.push(bus);
  return bus;
}

async function cleanup(): Promise<void> {
  for (const bus of buses.splice(0)) await bus.stop();
  for (const client of clients.splice(0)) await client.close();
  for (const broker of brokers.splice(0)) await broker.close();
}

eventBusContract('ServiceBusEventBus', {
  deduplicatesMessageIds: true,
  async world({ maxDeliveryCount }) {
    const broker = await aBroker({ maxDeliveryCount });
    const client = aClient(broker);
    return { aBus: () => aBus(client, { maxDeliveryCount }) };
  },
  cleanup,
});

/**
 * A WebSocket-shaped object over plain TCP. The SDK opens plain AMQP only for connection strings
 * with UseDevelopmentEmulator; with a TokenCredential it insists on TLS, unless given a WebSocket
 * constructor (its `webSocketOptions`), which rhea drives as a byte stream: this one is TCP.
 */
class TcpAsWebSocket {
  binaryType = 'arraybuffer';
  onopen: (() => void) | null = null;
  onmessage: ((event: { data: Buffer }) => void) | null = null;
  onerror: ((err: unknown) => void) | null = null;
  onclose: (() => void) | null = null;
  private readonly socket: net.Socket;

  constructor(readonly url: string) {
    const { hostname, port } = new URL(url);
    this.socket = net.connect(Number(port), hostname, () => this.onopen?.());
    this.socket.on('data', (data) => this.onmessage?.({ data }));
    this.socket.on('error', (err) => this.onerror?.(err));
    this.socket.on('close', () => this.onclose?.());
  }

  send(data: Uint8Array): void {
    this.socket.write(data);
  }

  close(): void {
    this.socket.end();
  }
}

function aCredential(token: string): TokenCredential & { scopes: string[] } {
  const scopes: string[] = [];
  return {
    scopes,
    async getToken(scope: string | string[]): Promise<AccessToken> {
      scopes.push(...([] as string[]).concat(scope));
      return { token, expiresOnTimestamp: Date.now() + 3_600_000 };
    },
  };
}

describe('ServiceBusEventBus on Service Bus semantics (real SDK, test broker)', () => {
  afterEach(cleanup);

  it('When a handler runs longer than the lock duration, then the SDK renews the lock and the message is delivered once', async () => {
    const broker = await aBroker({ lockDurationMs: 1_200 });
    const bus = aBus(aClient(broker));
    const deliveries: number[] = [];
    bus.subscribe('notify', ANALYZED, async (m) => {
      deliveries.push(m.deliveryCount);
      await new Promise((r) => setTimeout(r, 3_000));
      return complete;
    });
    bus.start();
    await bus.publish(ANALYZED, [anEvent(1)]);
    await bus.idle();

    expect(deliveries).toEqual([1]);
    expect(broker.managementOperations.filter((op) => op === 'com.microsoft:renew-lock').length).toBeGreaterThanOrEqual(2);
    expect(broker.counts(ANALYZED, 'notify')).toEqual({ active: 0, locked: 0, scheduled: 0, deadLettered: 0 });
  }, 15_000);

  it('When a message is scheduled, then idle() waits for it and it is delivered no earlier than its time', async () => {
    const broker = await aBroker();
    const client = aClient(broker);
    const bus = aBus(client);
    const delivered: Array<{ id: string; at: number }> = [];
    bus.subscribe('notify', ANALYZED, async (m) => {
      delivered.push({ id: m.id, at: Date.now() });
      return complete;
    });
    bus.start();

    const at = new Date(Date.now() + 600);
    const sender = client.createSender(ANALYZED);
    await sender.scheduleMessages({ body: { later: true }, messageId: 'scheduled-1' }, at);
    expect(broker.counts(ANALYZED, 'notify').scheduled).toBe(1);
    await bus.idle();
    await sender.close();

    expect(delivered.map((d) => d.id)).toEqual(['scheduled-1']);
    expect(delivered[0].at).toBeGreaterThanOrEqual(at.getTime());
  });

  it('When the client holds a TokenCredential, then its token reaches the broker through CBS put-token for each entity', async () => {
    const broker = await aBroker();
    const credential = aCredential('token-from-the-test-credential');
    const client = new ServiceBusClient(`127.0.0.1:${broker.port}`, credential, { ...CLIENT_OPTIONS, webSocketOptions: { webSocket: TcpAsWebSocket } });
    clients.push(client);
    const bus = aBus(client);
    const got = collectIds(bus);
    await bus.publish(ANALYZED, [anEvent(1)]);
    await bus.idle();

    expect(got).toEqual(['evt-1']);
    expect(credential.scopes).toContain('https://servicebus.azure.net//.default');
    const jwt = broker.putTokens.filter((t) => t.tokenType === 'jwt');
    expect(jwt.map((t) => t.audience)).toEqual(
      expect.arrayContaining([`sb://127.0.0.1:${broker.port}/${ANALYZED}`, `sb://127.0.0.1:${broker.port}/${ANALYZED}/Subscriptions/notify`]),
    );
    expect(new Set(jwt.map((t) => t.token))).toEqual(new Set(['token-from-the-test-credential']));
  });

  it('When the client uses a connection string, then it puts a SAS token on CBS (never the key itself)', async () => {
    const broker = await aBroker();
    const bus = aBus(aClient(broker));
    await bus.publish(ANALYZED, [anEvent(1)]);

    const [put] = broker.putTokens;
    expect(put).toMatchObject({ tokenType: 'servicebus.windows.net:sastoken', audience: `sb://127.0.0.1:${broker.port}/${ANALYZED}` });
    expect(put.token).toMatch(/^SharedAccessSignature sr=.+&sig=.+&se=\d+&skn=x$/);
  });

  it('When an event is published, then the wire carries its id as message id, its routing properties and the CloudEvent as JSON', async () => {
    const broker = await aBroker();
    const bus = aBus(aClient(broker));
    const event = anEvent(3, { subject: 'www.contoso.test:443' });
    await bus.publish(ANALYZED, [event]);

    const [wire] = broker.published;
    expect(wire).toMatchObject({
      topic: ANALYZED,
      messageId: 'evt-3',
      contentType: CLOUDEVENTS_CONTENT_TYPE,
      correlationId: 'corr-3',
      applicationProperties: { type: 'certops.endpoint.discovered.v1', tenantid: 'contoso', subject: 'www.contoso.test:443' },
    });
    expect(JSON.parse((wire.body as Buffer).toString('utf8'))).toEqual(event);
  });

  it('When many events are published at once, then they go out in batches and every one arrives once', async () => {
    const broker = await aBroker();
    const bus = aBus(aClient(broker));
    const seen = new Map<string, number>();
    bus.subscribe(
      'notify',
      ANALYZED,
      async (m: ReceivedMessage) => {
        seen.set(m.id, (seen.get(m.id) ?? 0) + 1);
        return complete;
      },
      { concurrency: 32 },
    );
    bus.start();
    const count = 1_000;
    const events = Array.from({ length: count }, (_, i) => anEvent(i));

    const started = performance.now();
    await bus.publish(ANALYZED, events);
    const published = performance.now();
    await bus.idle();
    const settled = performance.now();

    expect(seen.size).toBe(count);
    expect([...seen.values()].every((n) => n === 1)).toBe(true);
    expect(broker.published.length).toBe(count);
    expect(broker.transfers).toBeLessThan(count / 10);
    // Figures for the report (2-core machine, SDK client and broker in one process).
    console.info(
      `ServiceBusEventBus via SDK: publish ${Math.round((count / (published - started)) * 1000)} msg/s; ` +
        `publish + deliver + complete ${Math.round((count / (settled - started)) * 1000)} msg/s at concurrency 32`,
    );
  }, 30_000);

  it('When a foreign producer sends a body that is not JSON, then the bus dead-letters it as MalformedBody without calling the handler', async () => {
    const broker = await aBroker();
    const client = aClient(broker);
    const bus = aBus(client);
    let calls = 0;
    bus.subscribe('notify', ANALYZED, async () => {
      calls += 1;
      return complete;
    });
    bus.start();
    const sender = client.createSender(ANALYZED);
    await sender.sendMessages({ body: Buffer.from('{not json'), messageId: 'foreign-1' });
    await sender.close();
    await bus.idle();

    expect(calls).toBe(0);
    expect(await bus.deadLetters()).toEqual([
      expect.objectContaining({ id: 'foreign-1', reason: 'MalformedBody', body: '{not json', description: 'the body is not JSON (9 bytes)' }),
    ]);
  });

  it('When the bus stops while a handler runs, then stop() waits for it to settle and the message is not delivered again', async () => {
    const broker = await aBroker();
    const bus = aBus(aClient(broker));
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let deliveries = 0;
    bus.subscribe('notify', ANALYZED, async () => {
      deliveries += 1;
      await gate;
      return complete;
    });
    bus.start();
    await bus.publish(ANALYZED, [anEvent(1)]);
    while (deliveries === 0) await new Promise((r) => setTimeout(r, 10));

    const stopping = bus.stop();
    await new Promise((r) => setTimeout(r, 100));
    release();
    await stopping;

    expect(deliveries).toBe(1);
    expect(broker.counts(ANALYZED, 'notify')).toEqual({ active: 0, locked: 0, scheduled: 0, deadLettered: 0 });
  });

  it('When a lock expires more often than maxDeliveryCount allows, then Service Bus itself dead-letters the message', async () => {
    const broker = await aBroker({ lockDurationMs: 300, maxDeliveryCount: 2 });
    const client = aClient(broker);
    const bus = aBus(client, { maxDeliveryCount: 2 });
    await bus.publish(ANALYZED, [anEvent(1)]);
    // A receiver that takes the message and never settles it (a process that hangs), twice.
    const receiver = client.createReceiver(ANALYZED, 'notify', { maxAutoLockRenewalDurationInMs: 0 });
    for (let i = 0; i < 2; i++) {
      const got = await receiver.receiveMessages(1, { maxWaitTimeInMs: 2_000 });
      expect(got.length).toBe(1);
      await new Promise((r) => setTimeout(r, 400));
    }
    await receiver.close();

    expect(await bus.deadLetters()).toEqual([
      expect.objectContaining({ id: 'evt-1', reason: MAX_DELIVERY_COUNT_EXCEEDED, description: 'Message could not be consumed after 2 delivery attempts.', deliveryCount: 2 }),
    ]);
  });
});

describe('ServiceBusBroker (test support) speaks what the SDK expects', () => {
  afterEach(cleanup);

  it('When a receiver takes messages in receiveAndDelete mode, then they leave the subscription without settlement', async () => {
    const broker = await aBroker();
    const client = aClient(broker);
    const sender = client.createSender(ANALYZED);
    await sender.sendMessages([{ body: 'one', messageId: 'rd-1' }, { body: 'two', messageId: 'rd-2' }]);
    const receiver = client.createReceiver(ANALYZED, 'notify', { receiveMode: 'receiveAndDelete' });

    const got = await receiver.receiveMessages(5, { maxWaitTimeInMs: 300 });
    expect(got.map((m) => m.body)).toEqual(['one', 'two']);
    expect(broker.counts(ANALYZED, 'notify')).toEqual({ active: 0, locked: 0, scheduled: 0, deadLettered: 0 });
    await sender.close();
    await receiver.close();
  });

  it('When a message is settled after its lock expired, then the SDK reports MessageLockLost and the message comes back', async () => {
    const broker = await aBroker({ lockDurationMs: 300 });
    const client = aClient(broker);
    const sender = client.createSender(ANALYZED);
    await sender.sendMessages({ body: 'slow', messageId: 'lost-1' });
    const receiver = client.createReceiver(ANALYZED, 'notify', { maxAutoLockRenewalDurationInMs: 0 });

    const [first] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 1_000 });
    await new Promise((r) => setTimeout(r, 400));
    await expect(receiver.completeMessage(first)).rejects.toMatchObject({ code: 'MessageLockLost' });
    const [again] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 1_000 });
    expect(again).toMatchObject({ messageId: 'lost-1', deliveryCount: 1 });
    await receiver.completeMessage(again);
    expect(broker.counts(ANALYZED, 'notify').locked).toBe(0);
    await sender.close();
    await receiver.close();
  });

  it('When a scheduled message is cancelled, then it is never delivered', async () => {
    const broker = await aBroker();
    const client = aClient(broker);
    const sender = client.createSender(ANALYZED);
    const [sequenceNumber] = await sender.scheduleMessages({ body: 'never', messageId: 'cancel-1' }, new Date(Date.now() + 60_000));
    expect(broker.counts(ANALYZED, 'notify').scheduled).toBe(1);
    await sender.cancelScheduledMessages(sequenceNumber);
    expect(broker.counts(ANALYZED, 'notify').scheduled).toBe(0);
    await sender.close();
  });
});
