import { defineConfig } from 'tsup';

// Every process of a run (runner, baseline hub, load generators) is its own entry,
// so workers are forked from plain JavaScript without a loader hook.
export default defineConfig({
  entry: {
    run: 'src/run.ts',
    'baseline/main': 'src/baseline/main.ts',
    'load/subscriber-worker': 'src/load/subscriber-worker.ts',
    'load/request-worker': 'src/load/request-worker.ts',
  },
  format: ['esm'],
  platform: 'node',
  target: 'node20',
  clean: true,
  sourcemap: true,
  // The peers' libraries are loaded by their own hubs only (dynamic import), from node_modules.
  splitting: false,
  external: ['better-sse', 'sse-channel'],
});
