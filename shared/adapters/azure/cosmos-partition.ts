/**
 * Reads of the `state` container scoped to one tenant, shared by the Cosmos adapters: a point read
 * in the tenant's partition, and a query scoped twice (the partition key, which the service
 * honours, and a `c.tenantId` filter, which the test server needs since it ignores the key).
 * Documents carry `tenantId`, a `type` and the adapter's `record`.
 */
import type { Container, ItemDefinition } from '@azure/cosmos';
import { ConcurrencyError } from '../../ports/certificate-store';
import { CONFLICT, NOT_FOUND, PRECONDITION_FAILED, cosmosStatus } from './cosmos-document-id';

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

/**
 * Writes a versioned document if the stored one is at `expectedVersion` (0: absent), else throws
 * ConcurrencyError naming `what` and the version found. The ETag, not the version field, is the
 * guard: of two writers that read the same version, the second replace fails with 412.
 */
export async function putVersioned<T extends { version: number }>(container: Container, document: StateDocument<T>, expectedVersion: number, what: string): Promise<void> {
  const { tenantId, type, id } = document;
  const conflict = async (): Promise<ConcurrencyError> => {
    const current = await readInPartition<T>(container, tenantId, type, id);
    return new ConcurrencyError(
      `${what} of tenant ${tenantId} is at version ${current?.document.record.version ?? 0}, not ${expectedVersion}: someone else changed it; read it again and retry`,
    );
  };
  if (expectedVersion === 0) {
    try {
      await container.items.create(document);
    } catch (err) {
      if (cosmosStatus(err) === CONFLICT) throw await conflict();
      throw err;
    }
    return;
  }
  const current = await readInPartition<T>(container, tenantId, type, id);
  if (!current || current.document.record.version !== expectedVersion) throw await conflict();
  try {
    await container.item(id, tenantId).replace(document, { accessCondition: { type: 'IfMatch', condition: current.etag } });
  } catch (err) {
    const status = cosmosStatus(err);
    if (status === PRECONDITION_FAILED || status === NOT_FOUND) throw await conflict();
    throw err;
  }
}
