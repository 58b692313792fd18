/**
 * A measured fast path for `jsonschema` 1.x (the validator the design card fixes).
 *
 * For every subschema it enters, jsonschema resolves a base URL with two WHATWG URL parses
 * (`SchemaContext#makeChild` → `resolveUrl(base, id || '')`), even when the subschema has no id,
 * where the result is the parent's base minus a fragment. That was ~60% of validating a
 * discovered event (57 µs → 23 µs), and validation runs twice at every stage boundary.
 * This replaces `makeChild` for exactly that case (no `$id`/`id`, and a base without a
 * fragment), and falls back to the library's own method for everything else. Errors are
 * identical; tests/unit/jsonschema-fast-path.test.ts compares both on valid and invalid events.
 */

interface Context {
  path: Array<string | number>;
  options: unknown;
  base: string;
  schemas: Record<string, unknown>;
}
type MakeChild = (this: Context, schema: { $id?: string; id?: string }, propertyName?: string | number) => Context;
type ContextClass = new (schema: unknown, options: unknown, path: Array<string | number>, base: string, schemas: Record<string, unknown>) => Context;

// The package has no typings for this module (nor an `exports` map that would hide it).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const helpers = require('jsonschema/lib/helpers') as { SchemaContext?: ContextClass & { prototype: { makeChild: MakeChild } } };
const SchemaContext = helpers.SchemaContext;

/** The library's own `makeChild`, kept for the cases the fast path does not cover. */
export const libraryMakeChild: MakeChild | undefined = SchemaContext?.prototype.makeChild;

const fastMakeChild: MakeChild = function (this: Context, schema, propertyName) {
  if (schema.$id || schema.id || this.base.includes('#')) return libraryMakeChild!.call(this, schema, propertyName);
  const path = propertyName === undefined ? this.path : this.path.concat([propertyName]);
  // No id: nothing is registered in the child, so it may share its parent's schema map.
  return new SchemaContext!(schema, this.options, path, this.base, this.schemas);
};

export function installJsonSchemaFastPath(): boolean {
  if (!SchemaContext || typeof libraryMakeChild !== 'function') return false;
  SchemaContext.prototype.makeChild = fastMakeChild;
  return true;
}

export function uninstallJsonSchemaFastPath(): void {
  if (SchemaContext && libraryMakeChild) SchemaContext.prototype.makeChild = libraryMakeChild;
}
