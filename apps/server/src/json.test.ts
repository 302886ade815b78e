import { describe, expect, it } from 'vitest';
import { ANY_INDEX, JsonSyntaxError, MAX_JSON_DEPTH, readJsonText } from './json.js';

const nested = (depth: number, open = '[', close = ']', inner = '0') =>
  `${open.repeat(depth)}${inner}${close.repeat(depth)}`;

describe('readJsonText', () => {
  it('keeps the source text of members: large integers, huge exponents, escapes and key order as sent', () => {
    const text = '{"channel":"a","data":{"id":9007199254740993,"big":1e999,"s":"\\u00e9\\n","z":1,"a":-0.50E+3}}';
    const doc = readJsonText(text, { sources: [['data'], ['channel']] });
    expect(doc.source(['data'])).toBe('{"id":9007199254740993,"big":1e999,"s":"\\u00e9\\n","z":1,"a":-0.50E+3}');
    expect(doc.source(['channel'])).toBe('"a"');
    expect(doc.value).toEqual({ channel: 'a', data: { id: 9007199254740992, big: Infinity, s: 'é\n', z: 1, a: -500 } });
  });

  it('removes whitespace and newlines outside strings, and keeps them inside strings', () => {
    const text = ' {\n  "data" : [ 1 ,\t{ "a b" : " x\\n y " } ] ,\r\n "k": true }\n';
    const doc = readJsonText(text, { sources: [['data'], ['k'], []] });
    expect(doc.source(['data'])).toBe('[1,{"a b":" x\\n y "}]');
    expect(doc.source(['k'])).toBe('true');
    expect(doc.source([])).toBe('{"data":[1,{"a b":" x\\n y "}],"k":true}');
  });

  it('keeps the sources of every element of an array, as a batch needs (events[i].data), and only those asked for', () => {
    const doc = readJsonText('{"events":[{"data":1.0},{"data":{"x":[]}},{"data":null}],"data":2,"*":{"data":3}}', {
      sources: [['events', ANY_INDEX, 'data']],
    });
    expect(doc.source(['events', 0, 'data'])).toBe('1.0');
    expect(doc.source(['events', 1, 'data'])).toBe('{"x":[]}');
    expect(doc.source(['events', 2, 'data'])).toBe('null');
    expect(doc.source(['events', 3, 'data'])).toBeUndefined();
    expect(doc.source(['events', 1, 'data', 'x'])).toBeUndefined();
    expect(doc.source(['data'])).toBeUndefined();
    expect(doc.source(['events', 0])).toBeUndefined();
    expect(doc.source(['*', 'data'])).toBeUndefined();
  });

  it('decodes escaped keys before matching them', () => {
    expect(readJsonText('{"d\\u0061ta":"x"}', { sources: [['data']] }).source(['data'])).toBe('"x"');
  });

  it('takes the last of duplicate keys, as JSON.parse does', () => {
    const doc = readJsonText('{"data":1,"data":2}', { sources: [['data']] });
    expect(doc.source(['data'])).toBe('2');
    expect(doc.value).toEqual({ data: 2 });
  });

  it.each([
    ['', 'empty'],
    ['{', 'unterminated object'],
    ['{"a":1,}', 'trailing comma'],
    ['[1,]', 'trailing comma in array'],
    ['{"a" 1}', 'missing colon'],
    ['{a:1}', 'unquoted key'],
    ['"a\nb"', 'raw newline in a string'],
    ['"\\x"', 'bad escape'],
    ['"\\u12g4"', 'bad unicode escape'],
    ['01', 'leading zero'],
    ['1.', 'no fraction digits'],
    ['-', 'lone minus'],
    ['1e', 'no exponent digits'],
    ['+1', 'plus sign'],
    ['tru', 'truncated literal'],
    ['NaN', 'NaN'],
    ['{} {}', 'two values'],
    ['\uFEFF{}', 'a byte order mark'],
    ['[1 2]', 'missing comma'],
  ])('refuses %j (%s) like JSON.parse', (text) => {
    expect(() => JSON.parse(text)).toThrow();
    expect(() => readJsonText(text)).toThrow(JsonSyntaxError);
  });

  it.each(['0', '-0', '1.5e-7', '"x"', 'null', '[]', '{}', '[[],{}]', '{"":""}', '"\\ud800"', '"\u2028"'])(
    'accepts %j like JSON.parse',
    (text) => {
      expect(readJsonText(text).value).toEqual(JSON.parse(text));
    },
  );

  it('finds the same sources in generated texts as the generator wrote: escapes, backslash runs, numbers, whitespace', () => {
    // A seeded generator of JSON texts that knows each value's compact source text (what it wrote, less whitespace).
    let seed = 0x5eed;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const ws = (): string => ['', '', '', ' ', '\n  ', '\t', '\r\n'][rnd(7)] as string;
    const strings = [
      '',
      'a',
      '\\"',
      '\\\\',
      'x\\\\\\"y',
      '\\u00e9\\/',
      ' \\n ',
      '}]\\",{\\\\',
      '\u2028',
      'd\\u0061ta',
      '\\\\\\\\',
    ];
    const numbers = ['0', '-0', '1.0', '9007199254740993', '1e999', '-0.50E+3', '12', '3.25e-7'];
    const gen = (depth: number): [string, string] => {
      const kind = depth > 5 ? rnd(4) : rnd(7);
      if (kind === 0) {
        const s = `"${strings[rnd(strings.length)] as string}"`;
        return [s, s];
      }
      if (kind === 1) {
        const n = numbers[rnd(numbers.length)] as string;
        return [n, n];
      }
      if (kind === 2) {
        const w = ['true', 'false', 'null'][rnd(3)] as string;
        return [w, w];
      }
      if (kind === 3 || kind === 4) {
        const items = Array.from({ length: rnd(4) }, () => gen(depth + 1));
        return [
          `[${ws()}${items.map(([t]) => t).join(`${ws()},${ws()}`)}${ws()}]`,
          `[${items.map(([, c]) => c).join(',')}]`,
        ];
      }
      const members = Array.from({ length: rnd(4) }, () => {
        const key = `"${strings[rnd(strings.length)] as string}"`;
        const [t, c] = gen(depth + 1);
        return [`${key}${ws()}:${ws()}${t}`, `${key}:${c}`];
      });
      return [
        `{${ws()}${members.map(([t]) => t).join(`${ws()},${ws()}`)}${ws()}}`,
        `{${members.map(([, c]) => c).join(',')}}`,
      ];
    };
    for (let k = 0; k < 2000; k++) {
      const [data, compact] = gen(0);
      const [other] = gen(3);
      const text = `${ws()}{${ws()}"before"${ws()}:${ws()}${other},"data"${ws()}:${ws()}${data}${ws()},"events":[{"data":${data}},${other}]}${ws()}`;
      const doc = readJsonText(text, { sources: [['data'], ['events', ANY_INDEX, 'data']] });
      expect(doc.source(['data'])).toBe(compact);
      expect(doc.source(['events', 0, 'data'])).toBe(compact);
      expect(doc.value).toEqual(JSON.parse(text));
    }
  });

  it(`accepts ${MAX_JSON_DEPTH} levels of nesting and refuses one more, without recursion`, () => {
    expect(readJsonText(nested(MAX_JSON_DEPTH)).value).toBeDefined();
    expect(() => readJsonText(nested(MAX_JSON_DEPTH + 1))).toThrow(/deeper than 64 levels/);
    const deep = (() => {
      try {
        readJsonText(nested(30_000));
      } catch (err) {
        return err;
      }
    })();
    expect(deep).toBeInstanceOf(JsonSyntaxError);
    expect((deep as JsonSyntaxError).tooDeep).toBe(true);
    expect(() => readJsonText(`${'{"a":'.repeat(6000)}1${'}'.repeat(6000)}`)).toThrow(/deeper than/);
  });
});
