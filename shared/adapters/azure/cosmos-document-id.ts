/**
 * Cosmos DB document ids derived from natural keys, and the status codes the adapters act on.
 *
 * An id is `<type>:<part>|<part>…`, each part escaped so that the result is injective and legal:
 * Cosmos forbids `/`, `\`, `?` and `#` in ids (they would be read as URL syntax), and `|` and the
 * escape character `~` itself are escaped so that no two keys share an id. `~` is an unreserved URL
 * character (RFC 3986 §2.3), so an escaped id travels through the REST path unchanged.
 * Ids are at most 255 characters (Cosmos DB service limits): a longer one is replaced by
 * `<type>=<sha256 of the escaped id>`, which cannot collide with the readable form (that has `:`
 * after the type); the document keeps its natural key in its own fields for readers.
 */
import { createHash } from 'node:crypto';

/** Cosmos DB's maximum id length, in characters. */
export const MAX_ID_LENGTH = 255;

const ESCAPED = /[~/\\?#|]/g;

function escapePart(part: string): string {
  return part.replace(ESCAPED, (ch) => `~${ch.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
}

/** The document id of the `type` record with natural key `parts`; same key, same id. */
export function documentId(type: string, ...parts: string[]): string {
  const readable = `${type}:${parts.map(escapePart).join('|')}`;
  if (readable.length <= MAX_ID_LENGTH) return readable;
  return `${type}=${createHash('sha256').update(readable, 'utf8').digest('hex')}`;
}

/** The HTTP status of an SDK error (ErrorResponse carries `code`, sometimes `statusCode`). */
export function cosmosStatus(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const { code, statusCode } = err as { code?: unknown; statusCode?: unknown };
  if (typeof statusCode === 'number') return statusCode;
  return typeof code === 'number' ? code : undefined;
}

export const CONFLICT = 409;
export const NOT_FOUND = 404;
export const PRECONDITION_FAILED = 412;
