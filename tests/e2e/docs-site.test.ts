import { skipWhenMissing } from './helpers/skip.js';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { API_PAGES, uniqueHeadingIds } from '../../docs/scripts/api-reference.js';
import { applyGenerated, configVariables, GENERATED } from '../../docs/scripts/reference.js';
import { DOCS, REPO, SNIPPETS } from './docs-helpers.js';

// The docs agree with the code, and every sample on a page comes from a file a test runs.

function walk(dir: string, keep: (file: string) => boolean): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    if (entry.name === 'node_modules' || entry.name.startsWith('.')) return [];
    const path = join(dir, entry.name);
    return entry.isDirectory() ? walk(path, keep) : keep(path) ? [path] : [];
  });
}

// docs/api is generated from the packages' TSDoc at build time (its examples are TSDoc's `@example`
// blocks); the tests of its own below check it.
const API_DIR = join(DOCS, 'api');
const pages = walk(DOCS, (f) => f.endsWith('.md') && !f.startsWith(SNIPPETS) && !f.startsWith(`${API_DIR}/`)).map(
  (file) => ({
    name: relative(DOCS, file),
    text: readFileSync(file, 'utf8'),
  }),
);
const allText = pages.map((p) => p.text).join('\n');

describe('docs: generated reference', () => {
  for (const [name, { page }] of Object.entries(GENERATED)) {
    it(`${page} holds the current ${name} table (pnpm --filter @cast/docs reference rewrites it)`, () => {
      const { stale } = applyGenerated(readFileSync(join(DOCS, page), 'utf8'), page);
      expect(stale).toEqual([]);
    });
  }

  it('the configuration page documents every variable the server reads', () => {
    const config = readFileSync(join(DOCS, 'self-hosting/configuration.md'), 'utf8');
    const missing = configVariables().filter((name) => !config.includes(`\`${name}\``));
    expect(missing).toEqual([]);
  });

  it('every route of the server is documented', () => {
    const app = readFileSync(join(REPO, 'apps/server/src/app.ts'), 'utf8');
    const block = /KNOWN_PATHS = new Set\(\[([\s\S]*?)\]\)/.exec(app)?.[1] ?? '';
    const routes = [...block.matchAll(/'([^']+)'/g)].map((m) => m[1] as string);
    expect(routes).toContain('/push/stream');
    const missing = routes.filter((route) => !allText.includes(route));
    expect(missing).toEqual([]);
  });
});

describe('docs: samples', () => {
  const includes = pages.flatMap((page) =>
    [...page.text.matchAll(/^<<< @\/snippets\/([^\s#{]+)(?:#([\w-]+))?/gm)].map((m) => ({
      page: page.name,
      file: m[1] as string,
      region: m[2],
    })),
  );

  it('every included sample and region exists', () => {
    expect(includes.length).toBeGreaterThan(30);
    const broken = includes.filter(({ file, region }) => {
      const path = join(SNIPPETS, file);
      if (!existsSync(path)) return true;
      if (!region) return false;
      const text = readFileSync(path, 'utf8');
      return !text.includes(`#region ${region}\n`) || !text.includes(`#endregion ${region}\n`);
    });
    expect(broken).toEqual([]);
  });

  it('every sample file is shown on a page and run by a test', () => {
    const tests = walk(join(REPO, 'tests/e2e'), (f) => /\/(docs|examples)-[\w-]+\.test\.ts$/.test(f))
      .map((f) => readFileSync(f, 'utf8'))
      .join('\n');
    const files = walk(SNIPPETS, () => true).map((f) => relative(SNIPPETS, f));
    const unshown = files.filter((f) => !includes.some((i) => i.file === f) && !f.endsWith('server/cast.ts'));
    const unrun = files.filter((f) => !tests.includes(f.replace(/\.ts$/, '')));
    expect(unshown).toEqual([]);
    expect(unrun).toEqual([]);
  });

  // Pages written with their features (issues 5, 6, 7, 8), which run their samples in their own
  // tests; every other page follows the rule below.
  const FEATURE_PAGES = new Set([
    'guide/event-bus.md',
    'guide/change-feeds.md',
    'guide/console.md',
    'self-hosting/cluster.md',
    'benchmarks.md',
  ]);

  it('code on the pages comes from sample files; inline blocks are output or marked as not run', () => {
    const OUTPUT = new Set(['text', 'json', 'http']);
    const offenders: string[] = [];
    for (const page of pages.filter((p) => !FEATURE_PAGES.has(p.name))) {
      const lines = page.text.split('\n');
      lines.forEach((line, i) => {
        const m = /^\s*```(\w*)/.exec(line);
        if (!m || m[1] === '') return;
        if (OUTPUT.has(m[1] as string)) return;
        if (/^<!-- not run: .+ -->$/.test(lines[i - 1] ?? '')) return;
        offenders.push(`${page.name}:${i + 1} (${m[1]})`);
      });
    }
    expect(offenders).toEqual([]);
  });
});

describe('docs: site', () => {
  const dist = join(DOCS, '.vitepress/dist');
  // Built by `pnpm build` (turbo) before the tests; VitePress itself fails on dead page links.
  it.skipIf(skipWhenMissing(!existsSync(join(dist, 'index.html'))))(
    'every link to a section of a page points at a heading that exists',
    () => {
      const html = new Map(
        walk(dist, (f) => f.endsWith('.html')).map((f) => [
          relative(dist, f).replace(/\.html$/, ''),
          readFileSync(f, 'utf8'),
        ]),
      );
      const broken: string[] = [];
      for (const [name, text] of html) {
        const content = text.slice(text.indexOf('<main'), text.indexOf('</main>'));
        for (const m of content.matchAll(/href="([^"]*)#([^"]+)"/g)) {
          const target = m[1] as string;
          if (/^[a-z]+:/.test(target)) continue;
          let page = name;
          if (target) {
            const base = name.split('/').slice(0, -1);
            for (const part of target.replace(/\.html$/, '').split('/')) {
              if (part === '..') base.pop();
              else if (part && part !== '.') base.push(part);
            }
            page = base.join('/') || 'index';
            if (target.endsWith('/')) page = `${page}/index`;
          }
          const doc = html.get(page) ?? html.get(`${page}/index`);
          if (!doc?.includes(`id="${m[2]}"`)) broken.push(`${name}: ${target}#${m[2]}`);
        }
      }
      expect(broken).toEqual([]);
    },
  );
});

/** The names a package's entry point exports (values and types), read by the TypeScript compiler. */
function publicExports(entry: string): string[] {
  const file = join(REPO, entry);
  const program = ts.createProgram([file], {
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    target: ts.ScriptTarget.ES2022,
    noEmit: true,
  });
  const source = program.getSourceFile(file);
  const symbol = source && program.getTypeChecker().getSymbolAtLocation(source);
  if (!symbol) throw new Error(`${entry} is not a module`);
  return program
    .getTypeChecker()
    .getExportsOfModule(symbol)
    .map((s) => s.name)
    .sort();
}

describe('docs: API reference', () => {
  // Written by `pnpm --filter @cast/docs build` (or `… api`) before the tests.
  const missing = skipWhenMissing(!existsSync(join(API_DIR, 'index.md')));

  // A floor on each package's export count proves the compiler read its entry (an empty list would
  // pass the check below). @cast/react is small: a provider, four hooks and three types.
  const fewestExports: Partial<Record<string, number>> = { '@cast/react': 8 };

  for (const { name, page, entry } of API_PAGES) {
    it.skipIf(missing)(`${page} has a section for every export of ${name}`, () => {
      const names = publicExports(entry);
      expect(names.length).toBeGreaterThanOrEqual(fewestExports[name] ?? 11);
      const text = readFileSync(join(DOCS, page), 'utf8');
      expect(text.startsWith(`# ${name} `)).toBe(true);
      const headings = new Set(
        [...text.matchAll(/^### (.+?)(?:\(\))? \{#[^}]+\}$/gm)].map((m) => (m[1] as string).replace(/\\_/g, '_')),
      );
      expect(names.filter((n) => !headings.has(n))).toEqual([]);
    });
  }

  it.skipIf(missing)('the overview links every package page', () => {
    const index = readFileSync(join(API_DIR, 'index.md'), 'utf8');
    for (const { name, page } of API_PAGES) expect(index).toContain(`[${name}](${page.replace(/^api\//, '')})`);
  });

  it('a heading without an anchor gets an id no other heading of the page has', () => {
    const page = ['###### code', '##### code {#code}', '```ts', '# not a heading', '```', '### Code!'].join('\n');
    expect(uniqueHeadingIds(page).split('\n')).toEqual([
      '###### code {#code-1}',
      '##### code {#code}',
      '```ts',
      '# not a heading',
      '```',
      '### Code! {#code-2}',
    ]);
  });
});

describe('docs: package READMEs', () => {
  for (const { name, entry } of API_PAGES) {
    const readme = join(REPO, dirname(dirname(entry)), 'README.md');
    it(`${name}'s README has install, an example and links to docs pages that exist`, () => {
      const text = readFileSync(readme, 'utf8');
      expect(text).toContain(`npm install ${name}\n`);
      expect(text).toMatch(new RegExp(`\`\`\`ts\\nimport \\{[^}]+\\} from '${name}';`));
      expect(text).toContain('## Documentation');
      const docs = text.slice(text.indexOf('## Documentation'));
      expect(docs).toContain(`Package API → ${name}`);
      const links = [...text.matchAll(/\]\((\.[^)#\s]+)(?:#[^)]*)?\)/g)].map((m) => m[1] as string);
      expect(links.filter((l) => l.includes('/docs/')).length).toBeGreaterThan(1);
      expect(links.filter((l) => !existsSync(join(dirname(readme), l)))).toEqual([]);
    });
  }
});
