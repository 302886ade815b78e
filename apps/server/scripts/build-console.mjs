// Builds the developer console (console-ui/) into dist/console/: one script
// (the UI with @cast/realtime-client bundled in), one stylesheet, and
// index.html pointing at both by their content-hashed names.
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const source = join(root, 'console-ui');
const outdir = join(root, 'dist', 'console');

await rm(outdir, { recursive: true, force: true });
await mkdir(outdir, { recursive: true });

const result = await build({
  absWorkingDir: root,
  entryPoints: { app: join(source, 'main.ts'), style: join(source, 'style.css') },
  outdir,
  entryNames: '[name]-[hash]',
  bundle: true,
  format: 'esm',
  platform: 'browser',
  // Browsers of the last few years; the client itself needs fetch streams and AbortController.
  target: ['chrome100', 'firefox100', 'safari15', 'edge100'],
  minify: true,
  legalComments: 'none',
  metafile: true,
  logLevel: 'warning',
});

const outputs = Object.keys(result.metafile.outputs).map((path) => basename(path));
const script = outputs.find((name) => name.startsWith('app-') && name.endsWith('.js'));
const style = outputs.find((name) => name.startsWith('style-') && name.endsWith('.css'));
if (!script || !style) throw new Error(`console build: unexpected outputs ${outputs.join(', ')}`);

const html = await readFile(join(source, 'index.html'), 'utf8');
if (!html.includes('%SCRIPT%') || !html.includes('%STYLE%'))
  throw new Error('console build: index.html lost its placeholders');
await writeFile(join(outdir, 'index.html'), html.replace('%SCRIPT%', script).replace('%STYLE%', style));

const sizes = await Promise.all(
  [script, style, 'index.html'].map(
    async (name) => `${name} ${((await readFile(join(outdir, name))).byteLength / 1024).toFixed(1)} KiB`,
  ),
);
console.log(`console: ${sizes.join(', ')}`);
