import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// The library must run in browsers, Workers, Deno and Bun: no Node API outside the CLI and the tests.
const root = dirname(fileURLToPath(import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'cli' ? [] : sources(path);
    return /\.ts$/.test(entry.name) &&
      !/\.test(-d)?\.ts$/.test(entry.name) &&
      entry.name !== 'test-server.ts' &&
      entry.name !== 'cli.ts'
      ? [path]
      : [];
  });
}

describe('isomorphic library code', () => {
  const files = sources(root);

  it('finds the library sources', () => {
    expect(files.map((f) => relative(root, f))).toEqual(expect.arrayContaining(['index.ts', 'http.ts', 'sign.ts']));
  });

  it.each(files.map((f) => [relative(root, f), f]))('%s uses no Node-only API', (_name, file) => {
    const code = readFileSync(file, 'utf8')
      .replace(/\/\*[\s\S]*?\*\//g, '')
      .replace(/\/\/.*$/gm, '');
    expect(code).not.toMatch(/from ['"]node:/);
    expect(code).not.toMatch(/\brequire\(/);
    expect(code).not.toMatch(/\bBuffer\b/);
    // `process` only through globalThis, guarded (see options.ts).
    expect(code.replace(/globalThis as \{ process\?/g, '').replace(/runtime\.process\?/g, '')).not.toMatch(
      /\bprocess\b/,
    );
  });
});
