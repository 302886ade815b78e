import { defineConfig } from 'tsup';

export default defineConfig({
  // `shared` is its own entry so that apps not sharing a stream never load it.
  entry: { index: 'src/index.ts', shared: 'src/shared/index.ts' },
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'es2022',
});
