import { describe, expect, it } from 'vitest';
import { classifyStack, describePerfUs, perRequestUs, splitPerfScript } from './perf-split.js';

/** `perf script -F pid,ip,sym` output: one sample per entry, frames innermost first. */
const script = (samples: Array<[number, Array<[string, string]>]>): string[] =>
  samples.flatMap(([pid, frames]) => [`${pid} `, ...frames.map(([ip, sym]) => `\t${ip.padStart(16)} ${sym}`), '']);

const KERNEL = 'ffffffff82244564';
const JS_HUB = 'JS:*publish file:///srv/app/main.js:3306:18';
const JS_NODE = 'JS:*Socket._writeGeneric node:net:927:42';

describe('perf samples split by where the core went', () => {
  it('puts a sample with the collector anywhere on its stack in gc, whatever called it', () => {
    expect(classifyStack(['v8::internal::Scavenger::ScavengeObject', 'v8::internal::Heap::Scavenge', JS_HUB])).toBe(
      'gc',
    );
    expect(classifyStack(['v8::internal::ConcurrentMarking::RunMajor', 'start_thread'])).toBe('gc');
  });

  it("gives a builtin or a syscall to the JavaScript that called it, the hub's or Node.js's", () => {
    expect(classifyStack(['v8::internal::JsonParser<unsigned char>::ParseJson', 'Builtin_JsonParse', JS_HUB])).toBe(
      'js',
    );
    expect(classifyStack(['tcp_sendmsg_locked', 'node::StreamBase::Writev', JS_NODE, JS_HUB])).toBe('js');
    expect(classifyStack(['Builtins_StringIndexOf', JS_NODE])).toBe('js');
  });

  it('calls a stack without JavaScript native (the poll, the parser, reads)', () => {
    expect(classifyStack(['uv__read', 'uv__io_poll', 'uv_run'])).toBe('native');
    expect(classifyStack(['[unknown]'])).toBe('native');
  });

  it('counts each process apart, and the samples that stopped in the kernel', async () => {
    const split = await splitPerfScript(
      script([
        [
          7,
          [
            [KERNEL, '_raw_spin_unlock_irqrestore'],
            ['9dd94f', 'node::LibuvStreamWrap::OnUvRead'],
            ['14c05fb', 'uv__io_poll'],
          ],
        ],
        [
          7,
          [
            ['7f7da40eba60', JS_HUB],
            ['14ce0dc', 'Builtins_JSEntryTrampoline'],
          ],
        ],
        [
          7,
          [
            [KERNEL, 'tcp_sendmsg_locked'],
            ['9dd94f', 'node::StreamBase::Writev'],
            ['7f7da40c8478', JS_NODE],
          ],
        ],
        [
          9,
          [
            ['14c46a6', 'v8::internal::Heap::Scavenge'],
            ['7f7da40c8478', JS_HUB],
          ],
        ],
        [
          9,
          [
            ['14c46a6', 'Builtins_RecordWriteSaveFP'],
            ['7f7da40c8478', JS_HUB],
          ],
        ],
      ]),
    );
    expect(split.get(7)).toEqual({ samples: 3, classes: { js: 2, native: 1, gc: 0 }, kernel: 2 });
    expect(split.get(9)).toEqual({ samples: 2, classes: { js: 1, native: 0, gc: 1 }, kernel: 0 });
    expect(split.has(8)).toBe(false);
  });

  it('reads a last sample without a blank line after it, and skips a header it cannot read', async () => {
    const lines = ['not a pid', `\t${KERNEL} x`, '', '12 ', `\t${'4'.padStart(16)} uv_run`];
    const split = await splitPerfScript(lines);
    expect([...split.keys()]).toEqual([12]);
    expect(split.get(12)?.classes.native).toBe(1);
  });

  it('turns samples into µs per request and says each part against the baseline', () => {
    const base = perRequestUs({ samples: 400, classes: { js: 240, native: 120, gc: 40 }, kernel: 150 }, 1000, 20_000);
    // 400 samples at 1 kHz are 0.4 s of the core over 20k requests: 20 µs each.
    expect(base).toEqual({ js: 12, native: 6, gc: 2, kernel: 7.5, total: 20 });
    const hub = perRequestUs({ samples: 460, classes: { js: 300, native: 120, gc: 40 }, kernel: 150 }, 1000, 20_000);
    expect(describePerfUs(hub, base)).toBe(
      'JavaScript 15.0 µs (1.25×), no JavaScript 6.0 (1.00×), GC 2.0 (1.00×), all 23.0 (1.15×), of it in the kernel 7.5 (1.00×)',
    );
    expect(describePerfUs(base)).toBe(
      'JavaScript 12.0 µs, no JavaScript 6.0, GC 2.0, all 20.0, of it in the kernel 7.5',
    );
    expect(perRequestUs({ samples: 1, classes: { js: 1, native: 0, gc: 0 }, kernel: 0 }, 1000, 0).total).toBeNaN();
  });
});
