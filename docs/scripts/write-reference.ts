/** Rewrites the generated tables of the reference pages (see reference.ts). */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { applyGenerated, DOCS_DIR, GENERATED } from './reference.js';

for (const page of new Set(Object.values(GENERATED).map((g) => g.page))) {
  const file = join(DOCS_DIR, page);
  const { text, stale } = applyGenerated(readFileSync(file, 'utf8'), page);
  if (stale.length > 0) writeFileSync(file, text);
  console.log(`${page}: ${stale.length > 0 ? `updated ${stale.join(', ')}` : 'up to date'}`);
}
