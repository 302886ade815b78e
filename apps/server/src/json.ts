/**
 * The deepest nesting of objects and arrays a JSON text may have (the whole
 * text, the publish envelope included). Deeper texts are refused, so that no
 * code that walks a value (ours, a client's `JSON.parse` reviver, a
 * subscriber's own) can be made to overflow its stack.
 */
export const MAX_JSON_DEPTH = 64;

/** A JSON text that is not valid JSON, or nests too deeply. */
export class JsonSyntaxError extends Error {
  override name = 'JsonSyntaxError';
  /** True when the text is well-formed so far but nests deeper than allowed. */
  readonly tooDeep: boolean;

  constructor(message: string, tooDeep = false) {
    super(message);
    this.tooDeep = tooDeep;
  }
}

/** One step from a value to a member: an object key or an array index. */
export type JsonPathStep = string | number;

/** A validated JSON text: its value and the source text of its shallow members. */
export interface JsonDocument {
  /** The parsed value. */
  readonly value: unknown;
  /**
   * The source text of the value at `path`, exactly as sent except for the
   * whitespace outside strings, which is removed (so the text is one line).
   * Numbers, escapes and key order are kept as they were: `9007199254740993`
   * stays `9007199254740993`, `1e999` stays `1e999`.
   *
   * @param path - keys and indexes from the root, at most `sourceDepth` steps
   * @returns the text, or undefined when there is no value at that path (or it is deeper than recorded)
   */
  source(path: readonly JsonPathStep[]): string | undefined;
}

/** Options of {@link readJsonText}. */
export interface ReadJsonTextOptions {
  /** The deepest nesting accepted. @defaultValue {@link MAX_JSON_DEPTH} */
  maxDepth?: number;
  /** How many steps from the root the sources of values are recorded for. @defaultValue 3 */
  sourceDepth?: number;
}

const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const MINUS = 0x2d;
const PLUS = 0x2b;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;

const isDigit = (c: number): boolean => c >= ZERO && c <= NINE;
const isHex = (c: number): boolean => isDigit(c) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
/** The escapes JSON allows after a backslash: " \ / b f n r t (u is handled apart). */
const SIMPLE_ESCAPES = new Set([0x22, 0x5c, 0x2f, 0x62, 0x66, 0x6e, 0x72, 0x74]);

/**
 * Reads a JSON text in one pass without recursion: validates it (RFC 8259),
 * refuses nesting deeper than `maxDepth`, and records the source text of
 * every value up to `sourceDepth` steps from the root, so that a member such
 * as a publish's `data` can be forwarded as it was sent instead of being
 * parsed and serialized again (which rounds large integers and turns `1e999`
 * into `null`). Whitespace outside strings is dropped from the sources.
 *
 * @param text - the JSON text (already decoded from UTF-8)
 * @param options - depth limit and how deep sources are kept
 * @returns the document
 * @throws JsonSyntaxError when the text is not JSON or nests too deeply
 * @example
 * ```ts
 * const doc = readJsonText('{"channel":"a","data":{"id":9007199254740993}}')
 * doc.source(['data']) // '{"id":9007199254740993}'
 * ```
 */
export function readJsonText(text: string, options: ReadJsonTextOptions = {}): JsonDocument {
  const maxDepth = options.maxDepth ?? MAX_JSON_DEPTH;
  const sourceDepth = options.sourceDepth ?? 3;
  const n = text.length;
  let i = 0;
  // The compact text is built from the pieces between runs of whitespace; offsets
  // into it are offsets into `text` less the whitespace removed before them.
  const pieces: string[] = [];
  let pieceStart = 0;
  let removed = 0;
  // The open containers: whether each is an array, the step it is at, where it started.
  const isArray: boolean[] = [];
  const steps: JsonPathStep[] = [];
  const starts: number[] = [];
  const spans = new Map<string, [number, number]>();

  const fail = (what: string): never => {
    throw new JsonSyntaxError(i >= n ? `The JSON ends too early (${what}).` : `Invalid JSON at character ${i + 1}: ${what}.`);
  };
  const skipSpace = (): void => {
    const from = i;
    for (; i < n; i++) {
      const c = text.charCodeAt(i);
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
    }
    if (i > from) {
      pieces.push(text.slice(pieceStart, from));
      pieceStart = i;
      removed += i - from;
    }
  };
  const scanString = (): void => {
    i++; // the opening quote
    for (;;) {
      if (i >= n) fail('an unterminated string');
      const c = text.charCodeAt(i);
      if (c === QUOTE) {
        i++;
        return;
      }
      if (c === BACKSLASH) {
        const e = text.charCodeAt(i + 1);
        if (e === 0x75) {
          for (let k = 2; k < 6; k++) if (!isHex(text.charCodeAt(i + k))) fail('a bad \\u escape');
          i += 6;
        } else if (SIMPLE_ESCAPES.has(e)) {
          i += 2;
        } else {
          fail('a bad escape');
        }
      } else if (c < 0x20) {
        fail('a control character inside a string');
      } else {
        i++;
      }
    }
  };
  const scanDigits = (): void => {
    if (!isDigit(text.charCodeAt(i))) fail('a digit expected');
    while (isDigit(text.charCodeAt(i))) i++;
  };
  const scanNumber = (): void => {
    if (text.charCodeAt(i) === MINUS) i++;
    if (text.charCodeAt(i) === ZERO) i++;
    else scanDigits();
    if (text.charCodeAt(i) === DOT) {
      i++;
      scanDigits();
    }
    const e = text.charCodeAt(i);
    if (e === 0x65 || e === 0x45) {
      i++;
      const s = text.charCodeAt(i);
      if (s === PLUS || s === MINUS) i++;
      scanDigits();
    }
  };
  const scanWord = (word: string): void => {
    if (!text.startsWith(word, i)) fail('an unexpected character');
    i += word.length;
  };
  const record = (depth: number, start: number): void => {
    if (depth > sourceDepth) return;
    spans.set(JSON.stringify(steps.slice(0, depth)), [start, i - removed]);
  };

  /** Reads `"key" :` in the innermost object, ready for its value. */
  const readKey = (): void => {
    if (text.charCodeAt(i) !== QUOTE) fail('a key (a string) expected');
    const from = i;
    scanString();
    const d = isArray.length;
    // Keys are decoded only where sources are recorded.
    if (d <= sourceDepth) steps[d - 1] = JSON.parse(text.slice(from, i)) as string;
    skipSpace();
    if (text.charCodeAt(i) !== COLON) fail('":" expected');
    i++;
    skipSpace();
  };

  // The loop alternates between "a value is expected" and "a value just ended".
  skipSpace();
  for (;;) {
    // A value is expected here.
    const depth = isArray.length;
    const start = i - removed;
    const c = text.charCodeAt(i);
    let ended = true;
    if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      if (depth >= maxDepth) {
        throw new JsonSyntaxError(`The JSON nests deeper than ${maxDepth} levels of objects and arrays.`, true);
      }
      i++;
      skipSpace();
      const close = c === OPEN_OBJECT ? CLOSE_OBJECT : CLOSE_ARRAY;
      if (text.charCodeAt(i) === close) {
        i++;
      } else {
        isArray.push(c === OPEN_ARRAY);
        starts.push(start);
        steps.push(0);
        ended = false;
        if (c === OPEN_OBJECT) readKey();
      }
    } else if (c === QUOTE) scanString();
    else if (c === MINUS || isDigit(c)) scanNumber();
    else if (c === 0x74) scanWord('true');
    else if (c === 0x66) scanWord('false');
    else if (c === 0x6e) scanWord('null');
    else fail('a value expected');
    if (!ended) continue;
    record(depth, start);
    // A value just ended: close every container it completes, then find the next value.
    let next = false;
    while (!next) {
      skipSpace();
      const d = isArray.length;
      if (d === 0) {
        if (i < n) fail('text after the end of the value');
        const compact = pieces.length === 0 ? text : `${pieces.join('')}${text.slice(pieceStart)}`;
        return document(compact, spans);
      }
      const ch = text.charCodeAt(i);
      const array = isArray[d - 1] as boolean;
      if (ch === COMMA) {
        i++;
        skipSpace();
        if (array) steps[d - 1] = (steps[d - 1] as number) + 1;
        else readKey();
        next = true;
      } else if (ch === (array ? CLOSE_ARRAY : CLOSE_OBJECT)) {
        i++;
        isArray.pop();
        steps.pop();
        record(d - 1, starts.pop() as number);
      } else {
        fail(array ? '"," or "]" expected' : '"," or "}" expected');
      }
    }
  }

}

function document(compact: string, spans: Map<string, [number, number]>): JsonDocument {
  // Within the depth limit, the native parser cannot overflow and is the fastest way to the value.
  const value: unknown = JSON.parse(compact);
  return {
    value,
    source(path) {
      const span = spans.get(JSON.stringify(path));
      return span ? compact.slice(span[0], span[1]) : undefined;
    },
  };
}
