/**
 * Validates OSCAL documents against NIST's published JSON Schemas (v1.2.1, draft-07), kept in
 * tests/fixtures/oscal (provenance in tests/fixtures/SOURCES.md §1).
 *
 * Why ajv with `unicodeRegExp` and ajv-formats: the schemas' token pattern uses `\p{L}` and `\p{N}`
 * (an ECMAScript regex needs the `u` flag for them), and their date-time and URI types carry
 * `format` keywords that a validator without formats silently accepts.
 */
import fs from 'node:fs';
import path from 'node:path';
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { fixturePath } from './fixtures';

const OSCAL_DIR = fixturePath('oscal');
export const AR_SCHEMA_PATH = path.join(OSCAL_DIR, 'oscal_assessment-results_schema.v1.2.1.json');
/** The "complete" schema (every model): used for the assessment plan embedded in the export. */
export const COMPLETE_SCHEMA_PATH = path.join(OSCAL_DIR, 'oscal_complete_schema.v1.2.1.json');
/** NIST's own Assessment Results example (oscal-content, the "IFA" document). */
export const IFA_EXAMPLE_PATH = path.join(OSCAL_DIR, 'ifa_assessment-results-example.json');

const compiled = new Map<string, ValidateFunction>();

function validatorFor(schemaPath: string): ValidateFunction {
  let validate = compiled.get(schemaPath);
  if (!validate) {
    // unicodeRegExp is ajv 8's default, stated here because `\p{L}` needs it; strict: false keeps
    // ajv's strict-mode warnings about the generated schemas' style out of the test output.
    const ajv = new Ajv({ strict: false, unicodeRegExp: true, allErrors: true });
    addFormats(ajv);
    validate = ajv.compile(JSON.parse(fs.readFileSync(schemaPath, 'utf8')));
    compiled.set(schemaPath, validate);
  }
  return validate;
}

function describe(errors: ErrorObject[] | null | undefined): string[] {
  return (errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? e.keyword}${e.params ? ` ${JSON.stringify(e.params)}` : ''}`);
}

/** Every violation of the OSCAL 1.2.1 Assessment Results schema in `doc`; empty when it is valid. */
export function oscalErrors(doc: unknown): string[] {
  const validate = validatorFor(AR_SCHEMA_PATH);
  return validate(doc) ? [] : describe(validate.errors);
}

/** Every violation of the OSCAL 1.2.1 complete schema (any model) in `doc`; empty when it is valid. */
export function oscalCompleteErrors(doc: unknown): string[] {
  const validate = validatorFor(COMPLETE_SCHEMA_PATH);
  return validate(doc) ? [] : describe(validate.errors);
}
