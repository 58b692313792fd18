/**
 * Where the tests' reference material lives: tests/fixtures/, inside this repository (each file's
 * source and licence in tests/fixtures/SOURCES.md). Nothing a test reads lies outside the tree.
 */
import path from 'node:path';

export const FIXTURES_DIR = path.resolve(__dirname, '../fixtures');

/** The path of a fixture, e.g. fixturePath('x509', 'badssl', 'wildcard-rsa2048.pem'). */
export function fixturePath(...parts: string[]): string {
  return path.join(FIXTURES_DIR, ...parts);
}
