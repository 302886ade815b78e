/**
 * Writes the API reference (`api/*.md`) from the TSDoc of the public packages'
 * entry points, with typedoc and typedoc-plugin-markdown (options in
 * `typedoc.json`). Runs before every docs build, so the pages cannot drift from
 * the code, and fails (exit 1) when an export or member has no documentation,
 * an export has no summary or no `@example`, or a `{@link}` points nowhere.
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ERROR_CODES } from '@cast/protocol';
import { Application, type DeclarationReflection, ReflectionKind } from 'typedoc';
import { MarkdownPageEvent } from 'typedoc-plugin-markdown';
import { DOCS_DIR } from './reference.js';

/** The packages the reference covers: the name each entry point declares with `@module`, and its page. */
export const API_PAGES = [
  { name: '@cast/protocol', page: 'api/protocol.md', entry: 'packages/protocol/src/index.ts' },
  { name: '@cast/server-sdk', page: 'api/server-sdk.md', entry: 'packages/server-sdk/src/index.ts' },
  { name: '@cast/realtime-client', page: 'api/realtime-client.md', entry: 'packages/realtime-client/src/index.ts' },
  { name: '@cast/react', page: 'api/react.md', entry: 'packages/react/src/index.ts' },
] as const;

// Each entry of ERROR_CODES is documented; its `status` and `retryable` fields are the table's columns.
const ERROR_CODE_FIELDS = Object.keys(ERROR_CODES).flatMap((code) =>
  ['status', 'retryable'].map((field) => `@cast/protocol.ERROR_CODES.__type.${code}.__type.${field}`),
);

function exampleProblems(module: DeclarationReflection): string[] {
  const problems: string[] = [];
  for (const child of module.children ?? []) {
    if (child.kindOf(ReflectionKind.Reference)) continue;
    const comment = child.comment ?? child.signatures?.[0]?.comment;
    const where = `${module.name}: ${child.name}`;
    if (!comment || comment.summary.every((part) => part.text.trim() === ''))
      problems.push(`${where} has no summary line`);
    if (!comment?.getTag('@example')) problems.push(`${where} has no @example`);
  }
  return problems;
}

/**
 * Gives every heading of a generated page its own `{#id}`. The plugin anchors the
 * headings it links to; the others (a parameter named `code`) would take VitePress's
 * automatic slug, which can equal an anchor further down and fail the build.
 *
 * @param markdown - one generated page
 * @returns the page with an explicit, unique id on every heading
 */
export function uniqueHeadingIds(markdown: string): string {
  const taken = new Set([...markdown.matchAll(/\{#([^}\s]+)\}\s*$/gm)].map((m) => m[1] as string));
  let fenced = false;
  return markdown
    .split('\n')
    .map((line) => {
      if (/^\s*```/.test(line)) fenced = !fenced;
      const m = fenced ? null : /^(#{1,6}) (.+?)\s*$/.exec(line);
      if (!m || /\{#[^}\s]+\}$/.test(m[2] as string)) return line;
      const base =
        (m[2] as string)
          .toLowerCase()
          .replace(/[^a-z0-9]+/g, '-')
          .replace(/^-+|-+$/g, '') || 'section';
      let id = base;
      for (let n = 1; taken.has(id); n++) id = `${base}-${n}`;
      taken.add(id);
      return `${line.trimEnd()} {#${id}}`;
    })
    .join('\n');
}

async function main(): Promise<number> {
  const app = await Application.bootstrapWithPlugins({
    options: join(DOCS_DIR, 'typedoc.json'),
    intentionallyNotDocumented: ERROR_CODE_FIELDS,
  });
  const project = await app.convert();
  if (!project) return 1;
  app.renderer.on(MarkdownPageEvent.END, (page) => {
    if (page.contents !== undefined) page.contents = uniqueHeadingIds(page.contents);
  });
  app.validate(project);
  const problems = (project.children ?? []).flatMap(exampleProblems);
  for (const problem of problems) app.logger.error(problem);
  const names = (project.children ?? []).map((m) => m.name);
  for (const { name } of API_PAGES) if (!names.includes(name)) app.logger.error(`no module named ${name}`);
  if (app.logger.hasErrors() || app.logger.hasWarnings()) return 1;
  await app.generateOutputs(project);
  return app.logger.hasErrors() ? 1 : 0;
}

// Run when invoked (`pnpm --filter @cast/docs api`), not when a test imports the helpers.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) process.exitCode = await main();
