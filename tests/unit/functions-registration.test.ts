/**
 * The Azure Functions entry points are registered from the topology: the metadata the Functions
 * host would receive (captured through a virtual `@azure/functions-core`, as the host provides it)
 * must name one timer per scheduled stage and one Service Bus topic trigger per consumed event type.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { InvocationContext } from '@azure/functions';
import { STAGES, topicOf } from '../../shared/pipeline/topology';

interface Binding {
  type: string;
  direction: string;
  topicName?: string;
  subscriptionName?: string;
  connection?: string;
  schedule?: string;
}
interface Registered {
  meta: { name: string; bindings: Record<string, Binding> };
  handler: (...args: unknown[]) => Promise<unknown>;
}

const registered: Registered[] = [];
const hooks: Array<{ name: string; callback: (context: unknown) => Promise<void> }> = [];
jest.mock(
  '@azure/functions-core',
  () => ({
    registerFunction: (meta: Registered['meta'], handler: Registered['handler']) => {
      registered.push({ meta, handler });
      return { dispose: () => undefined };
    },
    setProgrammingModel: () => undefined,
    registerHook: (name: string, callback: (context: unknown) => Promise<void>) => {
      hooks.push({ name, callback });
      return { dispose: () => undefined };
    },
    log: () => undefined,
  }),
  { virtual: true },
);

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'certops-functions-'));
  const config = path.join(dir, 'certops.yaml');
  writeFileSync(config, 'tenants:\n  - id: contoso\n    assignee: { name: Alice }\n    endpoints: [{ host: 127.0.0.1, port: 9 }]\n');
  process.env.CERTOPS_CONFIG = config;
  process.env.CERTOPS_SWEEP_SCHEDULE = '0 30 3 * * *';
  process.env.CERTOPS_LOG_LEVEL = 'silent';
  jest.isolateModules(() => {
    require('../../functions/index');
  });
});

afterAll(async () => {
  // As the host does when it stops the worker: the runtime behind the triggers closes.
  for (const hook of hooks.filter((h) => h.name === 'appTerminate')) await hook.callback({});
  delete process.env.CERTOPS_CONFIG;
  delete process.env.CERTOPS_SWEEP_SCHEDULE;
  delete process.env.CERTOPS_LOG_LEVEL;
  rmSync(dir, { recursive: true, force: true });
});

function triggerOf(r: Registered): Binding {
  const triggers = Object.values(r.meta.bindings).filter((b) => /Trigger$/.test(b.type));
  expect(triggers).toHaveLength(1);
  return triggers[0];
}

it('When the Functions host loads the app, then every stage is registered exactly as the topology says, and the API as one HTTP trigger', () => {
  const stages = STAGES.flatMap((s) => [
    ...(s.timer ? [{ name: `${s.name}-timer`, type: 'timerTrigger', schedule: '0 30 3 * * *' }] : []),
    ...s.consumes.map((t) => ({
      name: `${s.name}-on-${topicOf(t)}`,
      type: 'serviceBusTrigger',
      topicName: topicOf(t),
      subscriptionName: s.name,
      connection: 'CERTOPS_SERVICE_BUS',
    })),
  ]);
  const expected = [{ name: 'digest-timer', type: 'timerTrigger', schedule: '0 0 7 * * *' }, { name: 'audit-heads-timer', type: 'timerTrigger', schedule: '0 */5 * * * *' }, { name: 'approval-expiry-timer', type: 'timerTrigger', schedule: '0 */5 * * * *' }, { name: 'key-retirement-timer', type: 'timerTrigger', schedule: '0 23 * * * *' }, ...stages, { name: 'api', type: 'httpTrigger', route: 'api/{*path}', authLevel: 'anonymous', methods: ['GET', 'POST'] }];
  const actual = registered.map((r) => {
    const t = triggerOf(r) as Binding & { route?: string; authLevel?: string; methods?: string[] };
    if (t.type === 'timerTrigger') return { name: r.meta.name, type: t.type, schedule: t.schedule };
    if (t.type === 'httpTrigger') return { name: r.meta.name, type: t.type, route: t.route, authLevel: t.authLevel, methods: t.methods };
    return { name: r.meta.name, type: t.type, topicName: t.topicName, subscriptionName: t.subscriptionName, connection: t.connection };
  });
  expect(actual).toEqual(expected);
  expect(stages.length).toBe(STAGES.reduce((n, s) => n + s.consumes.length + (s.timer ? 1 : 0), 0));
  expect(hooks.map((h) => h.name)).toEqual(['appTerminate']);
});

it('When a topic trigger receives a malformed message, then the invocation fails with the validation errors (Service Bus dead-letters it after its delivery count)', async () => {
  const discover = registered.find((r) => r.meta.name === 'discover-on-discovery-requested')!;
  const context = new InvocationContext({ functionName: discover.meta.name, logHandler: () => undefined });
  await expect(discover.handler({ not: 'an event' }, context)).rejects.toThrow(/InvalidEvent: not a valid certops CloudEvent: event requires property "specversion"/);
});
