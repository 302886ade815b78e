/**
 * Generates the tables of the reference pages from the code they describe:
 * the error codes from `@cast/protocol`'s ERROR_CODES (and their TSDoc lines)
 * and the numeric settings from the server's NUMBER_SETTINGS. The pages hold
 * the generated Markdown between `<!-- generated:<name> -->` markers; the docs
 * test fails when a page and the code disagree, and
 * `pnpm --filter @cast/docs reference` rewrites them.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ERROR_CODES } from '@cast/protocol';
import { NUMBER_SETTINGS } from '../../apps/server/src/config.js';
import { openApiDocument, openApiOperations, type OpenApiLimits } from '../../apps/server/src/openapi.js';

const here = dirname(fileURLToPath(import.meta.url));
export const DOCS_DIR = join(here, '..');
const REPO = join(DOCS_DIR, '..');

/** The pages with generated regions, and what goes in each. */
export const GENERATED: Record<string, { page: string; render: () => string }> = {
  'error-codes': { page: 'reference/errors.md', render: errorCodesTable },
  'number-settings': { page: 'self-hosting/configuration.md', render: numberSettingsTable },
  'openapi-operations': { page: 'reference/openapi.md', render: openApiOperationsTable },
  'openapi-document': { page: 'reference/openapi.md', render: openApiDocumentBlock },
};

/** The limits of a server started with the defaults (console on). */
function defaultLimits(): OpenApiLimits {
  const value = (key: keyof OpenApiLimits) => NUMBER_SETTINGS.find((s) => s.key === key)?.default as number;
  return {
    maxChannelsPerToken: value('maxChannelsPerToken'),
    maxTokenTtlSeconds: value('maxTokenTtlSeconds'),
    maxPayloadBytes: value('maxPayloadBytes'),
    maxBatch: value('maxBatch'),
    console: true,
  };
}

/** One row per operation of the OpenAPI document: method, path, what it does, its error codes. */
export function openApiOperationsTable(): string {
  const rows = openApiOperations(defaultLimits()).map(
    (op) =>
      `| \`${op.method}\` | \`${op.path}\` | ${cell(op.summary)} | ${op.errors.map((c) => `\`${c}\``).join(', ') || '—'} |`,
  );
  return ['| Method | Path | What it does | Error codes |', '| --- | --- | --- | --- |', ...rows].join('\n');
}

/** The whole OpenAPI document of a server with the default limits, as a JSON block. */
export function openApiDocumentBlock(): string {
  return ['```json', JSON.stringify(openApiDocument(defaultLimits()), null, 2), '```'].join('\n');
}

/** The one-line TSDoc of each error code, read from the protocol's source. */
function errorDescriptions(): Map<string, string> {
  const source = readFileSync(join(REPO, 'packages/protocol/src/errors.ts'), 'utf8');
  const docs = new Map<string, string>();
  for (const m of source.matchAll(/\/\*\*\s*(.+?)\s*\*\/\s*\n\s*([A-Z_]+):\s*\{/g)) {
    docs.set(m[2] as string, (m[1] as string).trim());
  }
  return docs;
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|');
}

/** The error-code table: code, HTTP status, retryable, meaning. */
export function errorCodesTable(): string {
  const docs = errorDescriptions();
  const rows = Object.entries(ERROR_CODES).map(([code, { status, retryable }]) => {
    const doc = docs.get(code);
    if (!doc) throw new Error(`ERROR_CODES.${code} has no TSDoc line in packages/protocol/src/errors.ts`);
    const shown = status === 0 ? '— (client side)' : String(status);
    return `| \`${code}\` | ${shown} | ${retryable ? 'yes' : 'no'} | ${cell(doc)} |`;
  });
  return ['| Code | HTTP status | Retryable | Meaning |', '| --- | --- | --- | --- |', ...rows].join('\n');
}

function formatNumber(n: number): string {
  return String(n);
}

/** The numeric-settings table: variable, default, range, meaning. */
export function numberSettingsTable(): string {
  const rows = NUMBER_SETTINGS.map(
    (s) =>
      `| \`${s.env}\` | ${formatNumber(s.default)} | ${formatNumber(s.min)} – ${formatNumber(s.max)} | ${cell(s.doc)} |`,
  );
  return ['| Variable | Default | Allowed | Meaning |', '| --- | --- | --- | --- |', ...rows].join('\n');
}

/** Every environment variable the server's configuration reads. */
export function configVariables(): string[] {
  const source = readFileSync(join(REPO, 'apps/server/src/config.ts'), 'utf8');
  const names = new Set<string>(NUMBER_SETTINGS.map((s) => s.env));
  for (const m of source.matchAll(/\benv\.([A-Z][A-Z0-9_]*)/g)) names.add(m[1] as string);
  return [...names].sort();
}

/**
 * Replaces (or, with `check`, compares) every generated region of a page's text.
 *
 * @returns the new text and the names of the regions that differed
 */
export function applyGenerated(text: string, page: string): { text: string; stale: string[] } {
  const stale: string[] = [];
  let out = text;
  for (const [name, spec] of Object.entries(GENERATED)) {
    if (spec.page !== page) continue;
    const start = `<!-- generated:${name} -->`;
    const end = `<!-- /generated:${name} -->`;
    const from = out.indexOf(start);
    const to = out.indexOf(end);
    if (from < 0 || to < from) throw new Error(`${page} has no ${start} … ${end} region`);
    const current = out.slice(from + start.length, to);
    const wanted = `\n${spec.render()}\n`;
    if (current !== wanted) stale.push(name);
    out = out.slice(0, from + start.length) + wanted + out.slice(to);
  }
  return { text: out, stale };
}
