/**
 * The Adaptive Card 1.5 schema (tests/fixtures/adaptivecards), with the upstream quirk fixes
 * of tests/fixtures/SOURCES.md §3: the file declares draft-06 but names itself with the draft-04
 * keyword `id` (renamed to `$id`), and the 1.6 file has draft-03 style `"required": true`
 * (dropped; a no-op on 1.5). The file on disk is not modified.
 */
import { readFileSync } from 'node:fs';
import { Validator, type Schema } from 'jsonschema';
import { fixturePath } from './fixtures';

function loadCardSchema(): Schema {
  const schema = JSON.parse(readFileSync(fixturePath('adaptivecards', 'adaptive-card.schema.v1.5.0.json'), 'utf8')) as Record<string, unknown>;
  if (typeof schema.id === 'string') {
    schema.$id = schema.id;
    delete schema.id;
  }
  const dropBooleanRequired = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(dropBooleanRequired);
    if (!node || typeof node !== 'object') return;
    const obj = node as Record<string, unknown>;
    if (typeof obj.required === 'boolean') delete obj.required;
    Object.values(obj).forEach(dropBooleanRequired);
  };
  dropBooleanRequired(schema);
  return schema as Schema;
}

const cardSchema = loadCardSchema();
const validator = new Validator();

/** Every schema error of a card (`property message`), empty when it is a valid Adaptive Card 1.5. */
export function adaptiveCardErrors(card: unknown): string[] {
  return validator.validate(card, cardSchema, { nestedErrors: true }).errors.map((e) => `${e.property} ${e.message}`);
}
