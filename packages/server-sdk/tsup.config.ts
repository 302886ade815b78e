import { rmSync } from 'node:fs';
import { defineConfig } from 'tsup';

// The three builds below write into one dist/ in parallel, so it is emptied once here, not by each.
rmSync(new URL('./dist', import.meta.url), { recursive: true, force: true });

const library = {
  entry: ['src/index.ts'],
  dts: true,
  sourcemap: true,
  target: 'es2022',
  platform: 'neutral',
} as const;

export default defineConfig([
  { ...library, format: ['esm'] },
  // jose is ESM-only; bundling it into the CommonJS build keeps `require('@cast/server-sdk')`
  // working on Node versions without require(esm) (before 20.19).
  { ...library, format: ['cjs'], noExternal: ['jose'] },
  {
    entry: ['src/cli.ts'],
    format: ['esm'],
    dts: false,
    sourcemap: true,
    target: 'node20',
    platform: 'node',
    removeNodeProtocol: false,
  },
]);
