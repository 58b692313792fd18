/**
 * The tree stands alone: a clone in an empty folder must find every file it reads inside itself.
 * No source, test, script or document may name the development workspace's reference folder, an
 * absolute path of a development machine, or climb out of the repository to reach a file.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');
const SKIPPED = new Set(['node_modules', '.git', 'dist', '.certops', 'coverage']);
const TEXT = /\.(ts|js|json|md|sh|yaml|yml|txt)$|^run$/;

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    if (SKIPPED.has(name)) return [];
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return files(full);
    return TEXT.test(name) && !full.includes(`${path.sep}fixtures${path.sep}`) ? [full] : [];
  });
}

// Built from parts so that this file does not match itself.
const FORBIDDEN: Array<{ what: string; pattern: RegExp }> = [
  { what: "the workspace's reference folder", pattern: new RegExp(['shared', 'reference'].join('/')) },
  { what: 'an absolute path of the development machine', pattern: new RegExp(`/${'work'}/(main|shared|\\.library)`) },
  { what: 'a path that climbs out of the repository', pattern: new RegExp(`(\\.\\./){3}${'shared'}`) },
];

it('When every text file of the tree is read, then none names a path outside the repository', () => {
  const offenders: string[] = [];
  const all = files(ROOT);
  expect(all.length).toBeGreaterThan(100);
  for (const file of all) {
    const text = readFileSync(file, 'utf8');
    for (const { what, pattern } of FORBIDDEN) {
      const line = text.split('\n').findIndex((l) => pattern.test(l));
      if (line >= 0) offenders.push(`${path.relative(ROOT, file)}:${line + 1} names ${what}`);
    }
  }
  expect(offenders).toEqual([]);
});

it('When the fixtures are listed, then each folder of them has its source in SOURCES.md', () => {
  const sources = readFileSync(path.join(ROOT, 'tests', 'fixtures', 'SOURCES.md'), 'utf8');
  for (const folder of readdirSync(path.join(ROOT, 'tests', 'fixtures')).filter((f) => statSync(path.join(ROOT, 'tests', 'fixtures', f)).isDirectory())) {
    expect(sources).toContain(`\`${folder}/`);
  }
});
