/**
 * Reads of the `state` container scoped to one tenant, shared by the Cosmos adapters: a point read
 * in the tenant's partition, and a query scoped twice (the partition key, which the service
 * honours, and a `c.tenantId` filter, which the test server needs since it ignores the key).
 * Documents carry `tenantId`, a `type` and the adapter's `record`.
 */
import type { Container, ItemDefinition } from '@azure/cosmos';
import { NOT_FOUND } from './cosmos-document-id';

export interface StateDocument<T> extends ItemDefinition {
  id: string;
  tenantId: string;
  type: string;
  record: T;
}

/** Null when absent (or, defensively, not of that tenant and type); the ETag for an optimistic replace. */
export async function readInPartition<T>(container: Container, tenantId: string, type: string, id: string): Promise<{ document: StateDocument<T>; etag: string } | null> {
  const response = await container.item(id, tenantId).read<StateDocument<T>>();
  const document = response.resource;
  if (response.statusCode === NOT_FOUND || !document || document.tenantId !== tenantId || document.type !== type) return null;
  return { document, etag: document._etag ?? response.etag };
}

/** The records of one type in the tenant's partition; `condition` adds `AND …` clauses over `c`. */
export async function queryInPartition<T>(
  container: Container,
  tenantId: string,
  type: string,
  condition = '',
  parameters: Array<{ name: string; value: string }> = [],
): Promise<T[]> {
  const { resources } = await container.items
    .query<StateDocument<T>>(
      {
        query: `SELECT * FROM c WHERE c.tenantId = @tenantId AND c.type = @type ${condition}`,
        parameters: [{ name: '@tenantId', value: tenantId }, { name: '@type', value: type }, ...parameters],
      },
      { partitionKey: tenantId },
    )
    .fetchAll();
  return resources.map((document) => document.record);
}
