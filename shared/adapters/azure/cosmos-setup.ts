/**
 * Cosmos DB plumbing the adapters do not own: building a client, and creating the database and
 * containers where no infrastructure program has (tests, local development). Production's
 * database and containers come from the Pulumi program (infra/), with the same names and the same
 * partition key (layout.ts); `createCosmosContainers` only ever creates what is missing.
 */
import type { Agent } from 'node:http';
import { CosmosClient, type Container } from '@azure/cosmos';
import type { TokenCredential } from '@azure/identity';
import { COSMOS_CONTAINERS, COSMOS_DATABASE, COSMOS_PARTITION_KEY_PATH } from './layout';

export interface CreateCosmosContainersOptions {
  /** Defaults to the layout's database name; tests pass a fresh one each. */
  databaseId?: string;
}

/**
 * Creates (if absent) the database and the `state` and `audit` containers, both partitioned by
 * `/tenantId`, and returns them. Idempotent. An existing container keeps its own settings: this
 * does not check that its partition key is the layout's (Cosmos cannot change it anyway).
 */
export async function createCosmosContainers(
  client: CosmosClient,
  options: CreateCosmosContainersOptions = {},
): Promise<{ state: Container; audit: Container }> {
  const { database } = await client.databases.createIfNotExists({ id: options.databaseId ?? COSMOS_DATABASE });
  const create = async (id: string): Promise<Container> =>
    (await database.containers.createIfNotExists({ id, partitionKey: { paths: [COSMOS_PARTITION_KEY_PATH] } })).container;
  return { state: await create(COSMOS_CONTAINERS.state), audit: await create(COSMOS_CONTAINERS.audit) };
}

/**
 * A CosmosClient for `endpoint`, authenticated by a Microsoft Entra credential (production: a
 * managed identity; never DefaultAzureCredential in tests, it probes the network) or by an account
 * key (the test server and the emulator). `agent` is for the test server's self-signed certificate.
 */
export function cosmosClientFor(endpoint: string, auth: TokenCredential | string, agent?: Agent): CosmosClient {
  return new CosmosClient({
    endpoint,
    ...(typeof auth === 'string' ? { key: auth } : { aadCredentials: auth }),
    ...(agent ? { agent } : {}),
  });
}
