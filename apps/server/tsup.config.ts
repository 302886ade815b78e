import { defineConfig } from 'tsup';

export default defineConfig({
  // One entry: `cast-server watch` loads the watch command as a chunk of its own.
  entry: { main: 'src/main.ts' },
  format: ['esm'],
  platform: 'node',
  target: 'node20',
  dts: false,
  clean: true,
  sourcemap: true,
  // Redis and PostgreSQL clients are loaded only when configured.
  external: ['ioredis', 'pg'],
});
