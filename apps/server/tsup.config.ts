import { defineConfig } from 'tsup';

export default defineConfig({
  entry: { main: 'src/main.ts', watch: 'src/cli/watch.ts' },
  format: ['esm'],
  platform: 'node',
  target: 'node20',
  dts: false,
  clean: true,
  sourcemap: true,
  // Redis and PostgreSQL clients are loaded only when configured.
  external: ['ioredis', 'pg'],
});
