/**
 * The deepest nesting of objects and arrays a JSON text may have (the whole
 * text, the publish envelope included). Deeper texts are refused, so that no
 * code that walks a value (ours, a client's `JSON.parse` reviver, a
 * subscriber's own) can be made to overflow its stack.
 *
 * @example
 * ```ts
 * readJsonText('['.repeat(MAX_JSON_DEPTH + 1)) // throws JsonSyntaxError with tooDeep: true
 * ```
 */
export const MAX_JSON_DEPTH = 64;

/**
 * A JSON text that is not valid JSON, or nests too deeply.
 *
 * @example
 * ```ts
 * try { readJsonText(text) } catch (err) { if (err instanceof JsonSyntaxError && err.tooDeep) tellTooDeep() }
 * ```
 */
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

/**
 * In a {@link JsonPathPattern}, any index of an array.
 *
 * @example
 * ```ts
 * readJsonText(body, { sources: [['events', ANY_INDEX, 'data']] }).source(['events', 2, 'data'])
 * ```
 */
export const ANY_INDEX = -1;

/**
 * The path of the values whose source text to keep: object keys, array
 * indexes, and {@link ANY_INDEX} for every element of an array.
 *
 * @example
 * ```ts
 * const eachData: JsonPathPattern = ['events', ANY_INDEX, 'data']
 * ```
 */
export type JsonPathPattern = readonly JsonPathStep[];

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
   * @param path - keys and indexes from the root, matching one of the `sources` asked for
   * @returns the text, or undefined when there is no value at that path (or it was not asked for)
   */
  source(path: readonly JsonPathStep[]): string | undefined;
}

/** Options of {@link readJsonText}. */
export interface ReadJsonTextOptions {
  /** The deepest nesting accepted. @defaultValue {@link MAX_JSON_DEPTH} */
  maxDepth?: number;
  /** The values whose source text to keep (`[]` is the whole text). @defaultValue none */
  sources?: readonly JsonPathPattern[];
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
/** A character a JSON number may hold: digits, signs, the point and the exponent's e or E. */
const isNumberPart = (c: number): boolean =>
  isDigit(c) || c === MINUS || c === PLUS || c === DOT || c === 0x65 || c === 0x45;
const isHex = (c: number): boolean => isDigit(c) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
/** The escapes JSON allows after a backslash: " \ / b f n r t (u is handled apart). */
const SIMPLE_ESCAPES = new Set([0x22, 0x5c, 0x2f, 0x62, 0x66, 0x6e, 0x72, 0x74]);

/**
 * Reads a JSON text without recursion: validates it (RFC 8259), refuses
 * nesting deeper than `maxDepth`, and keeps the source text of the values at
 * the `sources` paths, so that a member such as a publish's `data` can be
 * forwarded as it was sent instead of being parsed and serialized again
 * (which rounds large integers and turns `1e999` into `null`). Whitespace
 * outside strings is dropped from the sources.
 *
 * The native parser validates and builds the value; one pass over the valid
 * text then measures its depth and finds the sources, skipping each string
 * with a native search. Only a text the native parser refuses is read again
 * by the validating pass, which says where and why it is not JSON.
 *
 * @param text - the JSON text (already decoded from UTF-8)
 * @param options - the depth limit and which sources to keep
 * @returns the document
 * @throws JsonSyntaxError when the text is not JSON or nests too deeply
 * @example
 * ```ts
 * const doc = readJsonText('{"channel":"a","data":{"id":9007199254740993}}', { sources: [['data']] })
 * doc.source(['data']) // '{"id":9007199254740993}'
 * ```
 */
export function readJsonText(text: string, options: ReadJsonTextOptions = {}): JsonDocument {
  const patterns = options.sources ?? [];
  const maxDepth = options.maxDepth ?? MAX_JSON_DEPTH;
  let value: unknown;
  try {
    // Iterative in V8: any depth is safe to parse; the depth limit is checked by the pass below.
    value = JSON.parse(text);
  } catch {
    new JsonReader(text, maxDepth, patterns, false).read();
    // The validating pass accepted what the native parser refused: say so without a position.
    throw new JsonSyntaxError('The text is not valid JSON.');
  }
  return new JsonReader(text, maxDepth, patterns, true).read(value);
}

/** Key of a recorded span: the path's steps, joined by a character no step of a matched path can hold alone. */
function spanKey(path: readonly JsonPathStep[], depth = path.length): string {
  let key = '';
  for (let k = 0; k < depth; k++) key += `${typeof path[k] === 'number' ? '#' : '$'}${path[k] as JsonPathStep}\u0000`;
  return key;
}

/** The state of one {@link readJsonText} pass (a class, so that a read allocates no closures). */
class JsonReader {
  private i = 0;
  private readonly n: number;
  // The compact text is built from the pieces between runs of whitespace; offsets
  // into it are offsets into `text` less the whitespace removed before them.
  private readonly pieces: string[] = [];
  private pieceStart = 0;
  private removed = 0;
  // The open containers: whether each is an array, the step it is at, where it started.
  private readonly isArray: boolean[] = [];
  private readonly steps: JsonPathStep[] = [];
  private readonly starts: number[] = [];
  private readonly spans = new Map<string, [number, number]>();
  /** Keys are decoded, and values matched, only this close to the root. */
  private readonly sourceDepth: number;

  constructor(
    private readonly text: string,
    private readonly maxDepth: number,
    private readonly patterns: readonly JsonPathPattern[],
    /** The text is known to be valid JSON: tokens are skipped, not checked. */
    private readonly valid: boolean,
  ) {
    this.n = text.length;
    let deepest = -1;
    for (const p of patterns) deepest = Math.max(deepest, p.length);
    this.sourceDepth = deepest;
  }

  private fail(what: string): never {
    const { i, n } = this;
    throw new JsonSyntaxError(
      i >= n ? `The JSON ends too early (${what}).` : `Invalid JSON at character ${i + 1}: ${what}.`,
    );
  }

  private skipSpace(): void {
    const { text, n } = this;
    const from = this.i;
    let i = from;
    for (; i < n; i++) {
      const c = text.charCodeAt(i);
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
    }
    this.i = i;
    if (i > from) {
      this.pieces.push(text.slice(this.pieceStart, from));
      this.pieceStart = i;
      this.removed += i - from;
    }
  }

  private scanString(): void {
    const { text, n } = this;
    if (this.valid) {
      // The closing quote is the first one after the opening quote not escaped by an odd run of backslashes.
      let end = text.indexOf('"', this.i + 1);
      for (;;) {
        let backslashes = 0;
        while (text.charCodeAt(end - 1 - backslashes) === BACKSLASH) backslashes++;
        if (backslashes % 2 === 0) break;
        end = text.indexOf('"', end + 1);
      }
      this.i = end + 1;
      return;
    }
    let i = this.i + 1; // the opening quote
    for (;;) {
      if (i >= n) {
        this.i = i;
        this.fail('an unterminated string');
      }
      const c = text.charCodeAt(i);
      if (c === QUOTE) {
        this.i = i + 1;
        return;
      }
      if (c === BACKSLASH) {
        const e = text.charCodeAt(i + 1);
        if (e === 0x75) {
          for (let k = 2; k < 6; k++) {
            if (!isHex(text.charCodeAt(i + k))) {
              this.i = i;
              this.fail('a bad \\u escape');
            }
          }
          i += 6;
        } else if (SIMPLE_ESCAPES.has(e)) {
          i += 2;
        } else {
          this.i = i;
          this.fail('a bad escape');
        }
      } else if (c < 0x20) {
        this.i = i;
        this.fail('a control character inside a string');
      } else {
        i++;
      }
    }
  }

  private scanDigits(): void {
    const { text } = this;
    if (!isDigit(text.charCodeAt(this.i))) this.fail('a digit expected');
    while (isDigit(text.charCodeAt(this.i))) this.i++;
  }

  private scanNumber(): void {
    const { text } = this;
    if (this.valid) {
      // Digits, sign, point and exponent: a number ends at the first other character.
      let i = this.i;
      while (isNumberPart(text.charCodeAt(i))) i++;
      this.i = i;
      return;
    }
    if (text.charCodeAt(this.i) === MINUS) this.i++;
    if (text.charCodeAt(this.i) === ZERO) this.i++;
    else this.scanDigits();
    if (text.charCodeAt(this.i) === DOT) {
      this.i++;
      this.scanDigits();
    }
    const e = text.charCodeAt(this.i);
    if (e === 0x65 || e === 0x45) {
      this.i++;
      const sign = text.charCodeAt(this.i);
      if (sign === PLUS || sign === MINUS) this.i++;
      this.scanDigits();
    }
  }

  private scanWord(word: string): void {
    if (!this.valid && !this.text.startsWith(word, this.i)) this.fail('an unexpected character');
    this.i += word.length;
  }

  private matches(pattern: JsonPathPattern, depth: number): boolean {
    if (pattern.length !== depth) return false;
    for (let k = 0; k < depth; k++) {
      const want = pattern[k];
      const step = this.steps[k];
      if (want !== step && !(want === ANY_INDEX && typeof step === 'number')) return false;
    }
    return true;
  }

  private record(depth: number, start: number): void {
    if (depth > this.sourceDepth) return;
    for (const pattern of this.patterns) {
      if (this.matches(pattern, depth)) {
        this.spans.set(spanKey(this.steps, depth), [start, this.i - this.removed]);
        return;
      }
    }
  }

  /** Reads `"key" :` in the innermost object, ready for its value. */
  private readKey(): void {
    const { text } = this;
    if (text.charCodeAt(this.i) !== QUOTE) this.fail('a key (a string) expected');
    const from = this.i;
    this.scanString();
    const d = this.isArray.length;
    if (d <= this.sourceDepth) {
      const key = text.slice(from + 1, this.i - 1);
      this.steps[d - 1] = key.includes('\\') ? (JSON.parse(text.slice(from, this.i)) as string) : key;
    }
    this.skipSpace();
    if (text.charCodeAt(this.i) !== COLON) this.fail('":" expected');
    this.i++;
    this.skipSpace();
  }

  /**
   * Reads the text to its end.
   *
   * @param value - the value the native parser made of the text, when it is known to be valid
   * @returns the document
   */
  read(value?: unknown): JsonDocument {
    const { text, n, isArray, steps, starts } = this;
    // The loop alternates between "a value is expected" and "a value just ended".
    this.skipSpace();
    for (;;) {
      // A value is expected here.
      const depth = isArray.length;
      const start = this.i - this.removed;
      const c = text.charCodeAt(this.i);
      let ended = true;
      if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
        if (depth >= this.maxDepth) {
          throw new JsonSyntaxError(`The JSON nests deeper than ${this.maxDepth} levels of objects and arrays.`, true);
        }
        this.i++;
        this.skipSpace();
        const close = c === OPEN_OBJECT ? CLOSE_OBJECT : CLOSE_ARRAY;
        if (text.charCodeAt(this.i) === close) {
          this.i++;
        } else {
          isArray.push(c === OPEN_ARRAY);
          starts.push(start);
          steps.push(0);
          ended = false;
          if (c === OPEN_OBJECT) this.readKey();
        }
      } else if (c === QUOTE) this.scanString();
      else if (c === MINUS || isDigit(c)) this.scanNumber();
      else if (c === 0x74) this.scanWord('true');
      else if (c === 0x66) this.scanWord('false');
      else if (c === 0x6e) this.scanWord('null');
      else this.fail('a value expected');
      if (!ended) continue;
      this.record(depth, start);
      // A value just ended: close every container it completes, then find the next value.
      let next = false;
      while (!next) {
        this.skipSpace();
        const d = isArray.length;
        if (d === 0) {
          if (this.i < n) this.fail('text after the end of the value');
          const compact = this.pieces.length === 0 ? text : `${this.pieces.join('')}${text.slice(this.pieceStart)}`;
          return document(compact, this.spans, value);
        }
        const ch = text.charCodeAt(this.i);
        const array = isArray[d - 1] as boolean;
        if (ch === COMMA) {
          this.i++;
          this.skipSpace();
          if (array) steps[d - 1] = (steps[d - 1] as number) + 1;
          else this.readKey();
          next = true;
        } else if (ch === (array ? CLOSE_ARRAY : CLOSE_OBJECT)) {
          this.i++;
          isArray.pop();
          steps.pop();
          this.record(d - 1, starts.pop() as number);
        } else {
          this.fail(array ? '"," or "]" expected' : '"," or "}" expected');
        }
      }
    }
  }
}

function document(compact: string, spans: Map<string, [number, number]>, value: unknown): JsonDocument {
  return {
    value,
    source(path) {
      const span = spans.get(spanKey(path));
      return span ? compact.slice(span[0], span[1]) : undefined;
    },
  };
}
