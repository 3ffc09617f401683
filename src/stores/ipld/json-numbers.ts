/**
 * A JSON reader and writer that keep what `JSON.parse` loses: whether a number literal was a
 * float (`0.0`, `40.0`, `1e3`) or an integer, and integers beyond 2^53 exactly. IPLDStore needs
 * both, because DAG-CBOR writes a float and an integer differently, so `0.0` and `0` give
 * different CIDs. The reader follows Python's `json.loads` (which the original ipldstore used):
 * it accepts the bare tokens `NaN`, `Infinity` and `-Infinity`, keeps the last of duplicate
 * keys, and strips a UTF-8 byte-order mark. The writer follows Python's `json.dumps` defaults.
 */

/** A JSON value with number fidelity. Objects are `Map`s (insertion order, any key is safe). */
export type JsonValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | JsonFloat
  | JsonValue[]
  | Map<string, JsonValue>;

/**
 * A number written as a float in the source (`40.0`, `1e3`, `-0.0`) whose value is integral.
 * Non-integral floats stay plain numbers: they are floats in every encoding anyway.
 */
export class JsonFloat {
  constructor(readonly value: number) {}
}

/** Makes the float `value` (wrapped when integral so it stays a float). */
export function float(value: number): number | JsonFloat {
  return Number.isInteger(value) || Object.is(value, -0) ? new JsonFloat(value) : value;
}

/** The JavaScript number of a JSON number (int, bigint or float), e.g. for comparisons. */
export function numberOf(value: number | bigint | JsonFloat): number {
  return value instanceof JsonFloat ? value.value : Number(value);
}

/** Where parsing failed: a message with the line and column. */
export class JsonSyntaxError extends Error {
  override readonly name = "JsonSyntaxError";
  constructor(
    message: string,
    readonly position: number,
  ) {
    super(message);
  }
}

const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

/** Parses UTF-8 JSON bytes (a BOM is skipped, invalid UTF-8 is an error). */
export function parseJsonBytes(bytes: Uint8Array): JsonValue {
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch {
    throw new JsonSyntaxError("not valid UTF-8", 0);
  }
  return parseJson(text);
}

/** Parses JSON text, keeping float-vs-integer and big integers (see the module comment). */
export function parseJson(text: string): JsonValue {
  const parser = new Parser(text);
  parser.skipSpace();
  const value = parser.value(0);
  parser.skipSpace();
  if (parser.pos < text.length) parser.fail("unexpected text after the JSON value");
  return value;
}

// Deep nesting would overflow the stack; Python's limit is about 1000 too.
const MAX_DEPTH = 1000;
const NUMBER = /-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/y;

class Parser {
  pos = 0;
  constructor(readonly text: string) {}

  fail(why: string, at = this.pos): never {
    const before = this.text.slice(0, at);
    const line = before.split("\n").length;
    const column = at - before.lastIndexOf("\n");
    throw new JsonSyntaxError(`${why} at line ${line} column ${column}`, at);
  }

  skipSpace(): void {
    const t = this.text;
    while (this.pos < t.length) {
      const c = t.charCodeAt(this.pos);
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return;
      this.pos++;
    }
  }

  value(depth: number): JsonValue {
    if (depth > MAX_DEPTH) this.fail("nesting too deep");
    const t = this.text;
    const c = t[this.pos];
    switch (c) {
      case "{":
        return this.object(depth);
      case "[":
        return this.array(depth);
      case '"':
        return this.string();
      case "t":
        return this.word("true", true);
      case "f":
        return this.word("false", false);
      case "n":
        return this.word("null", null);
      case "N":
        return this.word("NaN", Number.NaN);
      case "I":
        return this.word("Infinity", Number.POSITIVE_INFINITY);
      case undefined:
        return this.fail("unexpected end of input");
      default:
        if (c === "-" && t.startsWith("-Infinity", this.pos)) {
          return this.word("-Infinity", Number.NEGATIVE_INFINITY);
        }
        if (c === "-" || (c >= "0" && c <= "9")) return this.number();
        return this.fail(`unexpected character ${JSON.stringify(c)}`);
    }
  }

  word<T extends JsonValue>(word: string, value: T): T {
    if (!this.text.startsWith(word, this.pos)) this.fail("invalid literal");
    this.pos += word.length;
    return value;
  }

  number(): JsonValue {
    NUMBER.lastIndex = this.pos;
    const match = NUMBER.exec(this.text);
    if (match === null) return this.fail("invalid number");
    const literal = match[0];
    this.pos += literal.length;
    if (match[1] !== undefined || match[2] !== undefined) return float(Number(literal));
    const n = Number(literal);
    // `-0` is the integer 0 in Python; integers beyond 2^53 stay exact as bigints.
    if (Number.isSafeInteger(n)) return n === 0 ? 0 : n;
    return BigInt(literal);
  }

  string(): string {
    const t = this.text;
    const start = ++this.pos;
    let out = "";
    let chunk = start;
    for (;;) {
      const c = t.charCodeAt(this.pos);
      if (Number.isNaN(c)) this.fail("unterminated string", start - 1);
      if (c === 0x22) break;
      if (c < 0x20) this.fail("control character in string");
      if (c === 0x5c) {
        out += t.slice(chunk, this.pos);
        out += this.escape();
        chunk = this.pos;
        continue;
      }
      this.pos++;
    }
    out += t.slice(chunk, this.pos);
    this.pos++;
    return out;
  }

  escape(): string {
    const t = this.text;
    const e = t[this.pos + 1];
    this.pos += 2;
    switch (e) {
      case '"':
        return '"';
      case "\\":
        return "\\";
      case "/":
        return "/";
      case "b":
        return "\b";
      case "f":
        return "\f";
      case "n":
        return "\n";
      case "r":
        return "\r";
      case "t":
        return "\t";
      case "u": {
        const hex = t.slice(this.pos, this.pos + 4);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.fail("invalid \\u escape", this.pos - 2);
        this.pos += 4;
        return String.fromCharCode(Number.parseInt(hex, 16));
      }
      default:
        return this.fail("invalid escape", this.pos - 2);
    }
  }

  array(depth: number): JsonValue[] {
    this.pos++;
    const out: JsonValue[] = [];
    this.skipSpace();
    if (this.text[this.pos] === "]") {
      this.pos++;
      return out;
    }
    for (;;) {
      this.skipSpace();
      out.push(this.value(depth + 1));
      this.skipSpace();
      const c = this.text[this.pos++];
      if (c === "]") return out;
      if (c !== ",") this.fail("expected ',' or ']'", this.pos - 1);
    }
  }

  object(depth: number): Map<string, JsonValue> {
    this.pos++;
    const out = new Map<string, JsonValue>();
    this.skipSpace();
    if (this.text[this.pos] === "}") {
      this.pos++;
      return out;
    }
    for (;;) {
      this.skipSpace();
      if (this.text[this.pos] !== '"') this.fail("expected a string key");
      const key = this.string();
      this.skipSpace();
      if (this.text[this.pos++] !== ":") this.fail("expected ':'", this.pos - 1);
      this.skipSpace();
      out.set(key, this.value(depth + 1));
      this.skipSpace();
      const c = this.text[this.pos++];
      if (c === "}") return out;
      if (c !== ",") this.fail("expected ',' or '}'", this.pos - 1);
    }
  }
}

/**
 * Writes JSON as Python's `json.dumps(value)` does with its defaults: `", "` and `": "`
 * separators, non-ASCII escaped as `\uXXXX`, floats in Python's shortest `repr` (`40.0`,
 * `1e-07`, `1e+16`), and `NaN`/`Infinity` as bare tokens. Values JSON cannot hold (links and
 * bytes from foreign DAG-CBOR) are written in DAG-JSON form (`{"/": "bafy…"}`).
 */
export function stringifyJson(value: unknown): string {
  const parts: string[] = [];
  write(value, parts);
  return parts.join("");
}

function write(value: unknown, out: string[]): void {
  if (value === null || value === undefined) out.push("null");
  else if (value === true) out.push("true");
  else if (value === false) out.push("false");
  else if (typeof value === "string") out.push(quote(value));
  else if (typeof value === "number") {
    out.push(Number.isInteger(value) && !Object.is(value, -0) ? String(value) : floatRepr(value));
  } else if (typeof value === "bigint") out.push(value.toString());
  else if (value instanceof JsonFloat) out.push(floatRepr(value.value));
  else if (Array.isArray(value)) {
    out.push("[");
    value.forEach((item, i) => {
      if (i > 0) out.push(", ");
      write(item, out);
    });
    out.push("]");
  } else if (value instanceof Map) {
    out.push("{");
    let first = true;
    for (const [k, v] of value) {
      if (!first) out.push(", ");
      first = false;
      out.push(quote(String(k)), ": ");
      write(v, out);
    }
    out.push("}");
  } else if (value instanceof Uint8Array) {
    out.push(`{"/": {"bytes": ${quote(base64NoPad(value))}}}`);
  } else if (isLink(value)) {
    out.push(`{"/": ${quote(value.toString())}}`);
  } else if (typeof value === "object") {
    write(new Map(Object.entries(value as Record<string, unknown>)) as Map<string, JsonValue>, out);
  } else {
    out.push("null");
  }
}

function isLink(value: unknown): value is { toString(): string } {
  return (
    typeof value === "object" &&
    value !== null &&
    (value as { asCID?: unknown }).asCID === value &&
    typeof (value as { toString?: unknown }).toString === "function"
  );
}

/**
 * Python's `repr(float)`: the shortest digits that round-trip, in positional notation when
 * the decimal exponent is in [-4, 16), otherwise `d.ddde±XX`; integral values get `.0`.
 */
export function floatRepr(x: number): string {
  if (Number.isNaN(x)) return "NaN";
  if (x === Number.POSITIVE_INFINITY) return "Infinity";
  if (x === Number.NEGATIVE_INFINITY) return "-Infinity";
  if (x === 0) return Object.is(x, -0) ? "-0.0" : "0.0";
  const sign = x < 0 ? "-" : "";
  // toExponential() without an argument gives the shortest round-trip digits.
  const [mantissa, exp] = Math.abs(x).toExponential().split("e") as [string, string];
  const digits = mantissa.replace(".", "");
  const exponent = Number(exp);
  const decpt = exponent + 1;
  if (decpt > -4 && decpt <= 16) {
    if (decpt <= 0) return `${sign}0.${"0".repeat(-decpt)}${digits}`;
    if (decpt >= digits.length) return `${sign}${digits}${"0".repeat(decpt - digits.length)}.0`;
    return `${sign}${digits.slice(0, decpt)}.${digits.slice(decpt)}`;
  }
  const head = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
  const e = Math.abs(exponent).toString().padStart(2, "0");
  return `${sign}${head}e${exponent < 0 ? "-" : "+"}${e}`;
}

function quote(s: string): string {
  let out = '"';
  let chunk = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x20 && c <= 0x7e && c !== 0x22 && c !== 0x5c) continue;
    out += s.slice(chunk, i) + escapeChar(c);
    chunk = i + 1;
  }
  return `${out}${s.slice(chunk)}"`;
}

function escapeChar(c: number): string {
  switch (c) {
    case 0x22:
      return '\\"';
    case 0x5c:
      return "\\\\";
    case 0x0a:
      return "\\n";
    case 0x0d:
      return "\\r";
    case 0x09:
      return "\\t";
    case 0x08:
      return "\\b";
    case 0x0c:
      return "\\f";
    default:
      return `\\u${c.toString(16).padStart(4, "0")}`;
  }
}

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

function base64NoPad(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i += 3) {
    const n = ((bytes[i] ?? 0) << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
    const chars = Math.min(4, Math.ceil(((bytes.length - i) * 8) / 6));
    for (let j = 0; j < chars; j++) out += B64[(n >> (18 - 6 * j)) & 63];
  }
  return out;
}

/** Describes why a value cannot be written as DAG-CBOR, or undefined when it can. */
export function dagCborProblem(value: JsonValue, path = "$"): string | undefined {
  if (typeof value === "number") {
    if (Number.isNaN(value)) return `${path} is NaN`;
    if (!Number.isFinite(value)) return `${path} is ${value > 0 ? "Infinity" : "-Infinity"}`;
    return undefined;
  }
  if (typeof value === "bigint") {
    const fits = value >= -(2n ** 64n) && value < 2n ** 64n;
    return fits ? undefined : `${path} is an integer beyond 64 bits (${value})`;
  }
  if (typeof value === "string") {
    return isWellFormed(value) ? undefined : `${path} holds a lone UTF-16 surrogate`;
  }
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) {
      const problem = dagCborProblem(item, `${path}[${i}]`);
      if (problem) return problem;
    }
    return undefined;
  }
  if (value instanceof Map) {
    for (const [k, v] of value) {
      if (!isWellFormed(k)) return `${path} has a key with a lone UTF-16 surrogate`;
      const problem = dagCborProblem(v, `${path}.${k}`);
      if (problem) return problem;
    }
  }
  return undefined;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Tells whether a string can be written as UTF-8 (no lone surrogates). */
export function isWellFormed(s: string): boolean {
  return !LONE_SURROGATE.test(s);
}
