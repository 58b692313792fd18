/**
 * The Cosmos DB stand-in for tests: `@vercel/cosmosdb-server` in this process, on 127.0.0.1 port 0,
 * over HTTPS with its bundled self-signed certificate, driven by the real `@azure/cosmos` SDK.
 *
 * The server records every request it receives (method, path, the partition key header), so a
 * test can show what went over the wire rather than what the SDK was asked to do.
 * What the server lacks (change feed, TTL, GROUP BY, DISTINCT, OFFSET/LIMIT, LIKE, atomic batch,
 * partition scoping of queries) is listed in shared/STANDINS.md; tests must not claim to prove it.
 */
import { randomUUID } from 'node:crypto';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { CosmosClient, Container } from '@azure/cosmos';
import { createHttpsServer } from '@vercel/cosmosdb-server';
import { cosmosClientFor, createCosmosContainers } from '../../shared/adapters/azure/cosmos-setup';
import { COSMOS_CONTAINERS } from '../../shared/adapters/azure/layout';

/** A request as the server saw it. */
export interface RecordedCosmosRequest {
  method: string;
  path: string;
  /** The `x-ms-documentdb-partitionkey` header as sent (JSON, e.g. `["contoso"]`), or null. */
  partitionKey: string | null;
  /** The SDK's query-plan request (`x-ms-cosmos-is-query-plan-request`): it never carries a partition key. */
  queryPlan: boolean;
}

export interface CosmosTestServer {
  endpoint: string;
  /** Every request received since the server started (clear it with `requests.length = 0`). */
  requests: RecordedCosmosRequest[];
  /** A new client (its own connection pool and caches): a second "instance" of the service. */
  newClient(): CosmosClient;
  /** A database of its own (fresh name) with the layout's `state` and `audit` containers. */
  freshDatabase(client?: CosmosClient): Promise<{ databaseId: string; state: Container; audit: Container }>;
  /** The containers of an existing database, through `client` (to reopen). */
  containers(client: CosmosClient, databaseId: string): { state: Container; audit: Container };
  close(): Promise<void>;
}

/** Any base64 string: the server does not check signatures. */
const TEST_KEY = Buffer.from('certops-test-key').toString('base64');

export async function startCosmosServer(): Promise<CosmosTestServer> {
  // keepAlive: without it the server answers `connection: close` and every request pays a TLS handshake.
  const server = createHttpsServer({ keepAlive: true } as https.ServerOptions);
  const requests: RecordedCosmosRequest[] = [];
  server.prependListener('request', (req) => {
    const header = req.headers['x-ms-documentdb-partitionkey'];
    requests.push({
      method: req.method ?? '',
      path: (req.url ?? '').split('?')[0],
      partitionKey: typeof header === 'string' ? header : null,
      queryPlan: String(req.headers['x-ms-cosmos-is-query-plan-request']).toLowerCase() === 'true',
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const endpoint = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const agent = new https.Agent({ rejectUnauthorized: false, keepAlive: true });
  const clients: CosmosClient[] = [];

  const newClient = (): CosmosClient => {
    const client = cosmosClientFor(endpoint, TEST_KEY, agent);
    clients.push(client);
    return client;
  };
  const containers = (client: CosmosClient, databaseId: string) => {
    const database = client.database(databaseId);
    return { state: database.container(COSMOS_CONTAINERS.state), audit: database.container(COSMOS_CONTAINERS.audit) };
  };

  return {
    endpoint,
    requests,
    newClient,
    containers,
    async freshDatabase(client = newClient()) {
      const databaseId = `certops-${randomUUID()}`;
      return { databaseId, ...(await createCosmosContainers(client, { databaseId })) };
    },
    async close() {
      for (const client of clients.splice(0)) client.dispose();
      agent.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A client of its own on the current test's database: another instance of the service. */
export interface CosmosConnection {
  state: Container;
  audit: Container;
  /** Disposes this connection's client. */
  close(): Promise<void>;
}

/** The Cosmos test server as a test file uses it (see useCosmosServer). */
export interface CosmosTestDatabase {
  readonly server: CosmosTestServer;
  /** The current test's database. */
  readonly databaseId: string;
  /** Its containers, through the client that created them (warm caches). */
  readonly state: Container;
  readonly audit: Container;
  /** A new client on the current test's database (cold caches, as a restarted instance). */
  connect(): CosmosConnection;
}

/**
 * Registers the hooks every Cosmos test file needs: the server starts before the file's tests and
 * closes after them, and each test gets a database of its own. Call at the top of the file (the
 * hooks run before the file's own `beforeEach`, so a test's setup sees its fresh database).
 */
export function useCosmosServer(): CosmosTestDatabase {
  let server: CosmosTestServer | undefined;
  let database: { databaseId: string; state: Container; audit: Container } | undefined;
  const started = (): CosmosTestServer => {
    if (!server) throw new Error('useCosmosServer: the server starts in beforeAll; use it inside a hook or a test');
    return server;
  };
  const current = () => {
    if (!database) throw new Error('useCosmosServer: each test\'s database is made in beforeEach; use it inside a test');
    return { server: started(), database };
  };
  beforeAll(async () => {
    server = await startCosmosServer();
  });
  afterAll(async () => {
    await server?.close();
  });
  beforeEach(async () => {
    database = await started().freshDatabase();
  });
  return {
    get server() {
      return started();
    },
    get databaseId() {
      return current().database.databaseId;
    },
    get state() {
      return current().database.state;
    },
    get audit() {
      return current().database.audit;
    },
    connect() {
      const { server: s, database: d } = current();
      const client = s.newClient();
      return { ...s.containers(client, d.databaseId), close: async () => client.dispose() };
    },
  };
}
