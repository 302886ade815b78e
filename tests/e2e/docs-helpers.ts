/**
 * Runs the samples of the documentation (docs/snippets) the way a reader would:
 * shell samples through bash with the server's URL and key in the environment.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const REPO = resolve(here, '../..');
export const DOCS = join(REPO, 'docs');
export const SNIPPETS = join(DOCS, 'snippets');

/** The text of a sample, by its path under docs/snippets. */
export function snippet(path: string): string {
  return readFileSync(join(SNIPPETS, path), 'utf8');
}

/** Options of {@link runSample} and {@link startSample}. */
export interface SampleOptions {
  /** Variables the sample reads (CAST_URL, CAST_API_KEY, TOKEN, …). */
  env?: Record<string, string>;
  /** Literal replacements in the sample's text (a fixed URL → the test server's). */
  replace?: Array<[string, string]>;
  cwd?: string;
  /** Text fed to the script after the sample (to chain samples). */
  append?: string;
  timeoutMs?: number;
}

function script(paths: string | string[], options: SampleOptions): string {
  let text = (Array.isArray(paths) ? paths : [paths]).map(snippet).join('\n');
  for (const [from, to] of options.replace ?? []) text = text.split(from).join(to);
  return options.append ? `${text}\n${options.append}` : text;
}

function environment(options: SampleOptions): NodeJS.ProcessEnv {
  return {
    PATH: [join(DOCS, 'node_modules/.bin'), process.env.PATH ?? ''].join(delimiter),
    HOME: process.env.HOME ?? '',
    ...options.env,
  };
}

/** Runs samples (concatenated) to completion with `bash -e`. */
export function runSample(
  paths: string | string[],
  options: SampleOptions = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn('bash', ['-e', '-c', script(paths, options)], {
      cwd: options.cwd ?? REPO,
      env: environment(options),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(
          `sample ${String(paths)} did not finish within ${options.timeoutMs ?? 15_000} ms:\n${stdout}\n${stderr}`,
        ),
      );
    }, options.timeoutMs ?? 15_000);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr });
    });
  });
}

/** A long-running sample (a stream, a server). */
export interface RunningSample {
  /** Standard output so far. */
  output(): string;
  /** Standard output and error so far, interleaved. */
  all(): string;
  /** Resolves when the output matches, rejects after `timeoutMs`. */
  waitFor(pattern: RegExp | string, timeoutMs?: number): Promise<string>;
  stop(): Promise<void>;
}

const started = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of started) {
    try {
      if (child.pid) process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

/** Starts a sample that runs until stopped, in its own process group. */
export function startSample(paths: string | string[], options: SampleOptions = {}): RunningSample {
  const child = spawn('bash', ['-c', script(paths, options)], {
    cwd: options.cwd ?? REPO,
    env: environment(options),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  started.add(child);
  let out = '';
  let stdout = '';
  const waiters = new Set<() => void>();
  const onData = (c: Buffer) => {
    out += c.toString();
    for (const w of [...waiters]) w();
  };
  child.stdout?.on('data', (c: Buffer) => {
    stdout += c.toString();
    onData(c);
  });
  child.stderr?.on('data', onData);
  const exited = new Promise<void>((r) =>
    child.once('exit', () => {
      started.delete(child);
      for (const w of [...waiters]) w();
      r();
    }),
  );
  return {
    output: () => stdout,
    all: () => out,
    waitFor(pattern, timeoutMs = 15_000) {
      const test = () => (typeof pattern === 'string' ? out.includes(pattern) : pattern.test(out));
      return new Promise((resolvePromise, reject) => {
        const check = () => {
          if (test()) {
            done();
            resolvePromise(out);
          } else if (child.exitCode !== null || child.signalCode !== null) {
            done();
            reject(new Error(`sample exited before printing ${String(pattern)}:\n${out}`));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`sample did not print ${String(pattern)} within ${timeoutMs} ms:\n${out}`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null && child.pid) {
        try {
          process.kill(-child.pid, 'SIGTERM');
        } catch {
          // already gone
        }
        const timer = setTimeout(() => child.pid && process.kill(-child.pid, 'SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
    },
  };
}
