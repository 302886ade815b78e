/**
 * Where a hub's core goes, from `perf` samples of the hubs' core: each sample
 * is put in one class by its call stack, so that two hubs doing the same work
 * can be compared part by part (the HTTP figures say how much dearer a hub
 * is; this says in which part).
 *
 * Classes (a sample's kernel time counts with the code that entered the kernel):
 * - `js`: JavaScript, the hub's, its libraries' and Node.js's own (http, net,
 *   streams, the promise queues), with the V8 builtins and runtime functions
 *   it called (JSON.parse, regular expressions) and the syscalls it made
 *   (writes to sockets). The hub's code and Node.js's are not told apart: V8
 *   inlines a hub's listener into Node.js's caller and back, so the innermost
 *   function of a sample moves between the two with the optimizer (two hubs
 *   with the same code read up to a third apart on that boundary, and alike
 *   on the sum).
 * - `native`: samples with no JavaScript on the stack (libuv's poll, the HTTP
 *   parser before it calls JavaScript, reading sockets, V8's compiler).
 * - `gc`: the garbage collector, wherever it ran.
 */

/** The class a sample is put in (see the module's comment). */
export type PerfClass = 'js' | 'native' | 'gc';

/** One process's samples: how many in each class, and how many of those stopped in the kernel. */
export interface PerfSplit {
  samples: number;
  classes: Record<PerfClass, number>;
  kernel: number;
}

/** Frames of V8's garbage collector (the scavenger, mark-compact and their concurrent and incremental parts). */
const GC_FRAME = /Scaveng|MarkCompact|ConcurrentMarking|IncrementalMarking|MinorMark|Sweeper|Heap::CollectGarbage/;

/**
 * The class of one sample from its frames, innermost first, as `perf script`
 * names them: JavaScript frames read `JS:<tier><name> <url>:<line>:<column>`
 * when the hub runs with `--perf-basic-prof`.
 *
 * @param frames - the symbols of the stack, innermost first
 * @returns its class
 * @example
 * ```ts
 * classifyStack(['v8::internal::JsonParser<unsigned char>::ParseJson', 'JS:*publish file:///srv/main.js:10:3']) // 'js'
 * ```
 */
export function classifyStack(frames: readonly string[]): PerfClass {
  if (frames.some((f) => GC_FRAME.test(f))) return 'gc';
  return frames.some((f) => f.startsWith('JS:')) ? 'js' : 'native';
}

/** Whether an instruction address (hex, as `perf script` prints it) is the kernel's. */
function isKernelAddress(hex: string): boolean {
  return hex.length === 16 && hex.startsWith('ffff');
}

/**
 * Reads the output of `perf script -F pid,ip,sym` (a line with the process
 * id, then one tab-indented `address symbol` line per frame, innermost first,
 * then a blank line) and splits each process's samples into classes.
 *
 * @param lines - the output, line by line
 * @returns process id → its split
 * @example
 * ```ts
 * const split = await splitPerfScript(readline.createInterface({ input: perfScript.stdout }))
 * split.get(hub.pid)?.classes.js
 * ```
 */
export async function splitPerfScript(
  lines: AsyncIterable<string> | Iterable<string>,
): Promise<Map<number, PerfSplit>> {
  const out = new Map<number, PerfSplit>();
  let pid: number | undefined;
  let frames: string[] = [];
  let kernelLeaf = false;
  const flush = (): void => {
    if (pid !== undefined && frames.length > 0) {
      let split = out.get(pid);
      if (!split) {
        split = { samples: 0, classes: { js: 0, native: 0, gc: 0 }, kernel: 0 };
        out.set(pid, split);
      }
      split.samples += 1;
      split.classes[classifyStack(frames)] += 1;
      if (kernelLeaf) split.kernel += 1;
    }
    pid = undefined;
    frames = [];
  };
  for await (const line of lines) {
    if (line.startsWith('\t')) {
      const frame = line.trim();
      const space = frame.indexOf(' ');
      const address = space === -1 ? frame : frame.slice(0, space);
      if (frames.length === 0) kernelLeaf = isKernelAddress(address);
      frames.push(space === -1 ? '' : frame.slice(space + 1));
    } else if (line.trim() === '') {
      flush();
    } else {
      flush();
      pid = Number.parseInt(line, 10);
      if (Number.isNaN(pid)) pid = undefined;
    }
  }
  flush();
  return out;
}

/** One hub's split in µs of CPU per request (see {@link perRequestUs}). */
export type PerfUs = Record<PerfClass | 'kernel' | 'total', number>;

/**
 * Converts a split into µs of CPU per request: each sample stands for
 * `1 / hz` seconds of the core.
 *
 * @param split - the hub's samples
 * @param hz - the sampling frequency
 * @param requests - the requests the hub answered while sampled
 * @returns µs per request by class, of it in the kernel, and in all
 * @example
 * ```ts
 * perRequestUs(split, 999, 120_000).js // e.g. 16.5
 * ```
 */
export function perRequestUs(split: PerfSplit, hz: number, requests: number): PerfUs {
  const us = (samples: number): number => (requests > 0 ? (samples * 1e6) / hz / requests : Number.NaN);
  return {
    js: us(split.classes.js),
    native: us(split.classes.native),
    gc: us(split.classes.gc),
    kernel: us(split.kernel),
    total: us(split.samples),
  };
}

/**
 * One line of a hub's split for the run's output, with each part's ratio to
 * the baseline's when there is one.
 *
 * @param us - the hub's split
 * @param base - the baseline's, or undefined for the baseline itself
 * @returns e.g. `JavaScript 19.7 µs (1.23×), no JavaScript 5.7 (0.91×), …`
 * @example
 * ```ts
 * log(`  ${name}: ${describePerfUs(us, baseUs)}`)
 * ```
 */
export function describePerfUs(us: PerfUs, base?: PerfUs): string {
  const parts: Array<[keyof PerfUs, string]> = [
    ['js', 'JavaScript'],
    ['native', 'no JavaScript'],
    ['gc', 'GC'],
    ['total', 'all'],
    ['kernel', 'of it in the kernel'],
  ];
  return parts
    .map(([key, label], i) => {
      const ratio = base ? ` (${(us[key] / base[key]).toFixed(2)}×)` : '';
      return `${label} ${us[key].toFixed(1)}${i === 0 ? ' µs' : ''}${ratio}`;
    })
    .join(', ');
}
