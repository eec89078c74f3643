/**
 * JSON with integers kept exactly. `JSON.parse` turns every number into a float64, so an integer
 * above 2^53 (Qdrant point ids go up to 2^64 - 1) comes back as a neighbouring value: ids are
 * rewritten, two ids can collide, and a `next_page_offset` can land past a point. Here an integer
 * literal that a float64 cannot hold exactly is parsed as a `bigint`, and a `bigint` is written back
 * as a bare JSON integer. Everything else is what `JSON.parse` / `JSON.stringify` make of it.
 */

const MARK = '\u0000int:';
/** An integer literal of 16 digits or more (shorter ones are always exact): only then is the text scanned. */
const LONG_INTEGER = /(?<![\d.eE+-])-?\d{16,}(?![\d.eE])/;

function isNumberChar(c: number): boolean {
  // 0-9 . e E + -
  return (c >= 0x30 && c <= 0x39) || c === 0x2e || c === 0x65 || c === 0x45 || c === 0x2b || c === 0x2d;
}

/** Parses `text` like `JSON.parse`, but every integer outside the safe range becomes a `bigint`. */
export function parseLossless(text: string): unknown {
  if (!LONG_INTEGER.test(text)) return JSON.parse(text);
  let marked = '';
  let copied = 0;
  let i = 0;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // Skip a string, escapes included: digits inside strings are text.
      i += 1;
      while (i < text.length && text.charCodeAt(i) !== 0x22) i += text.charCodeAt(i) === 0x5c ? 2 : 1;
      i += 1;
      continue;
    }
    if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      let j = i + 1;
      while (j < text.length && isNumberChar(text.charCodeAt(j))) j += 1;
      const literal = text.slice(i, j);
      if (/^-?\d+$/.test(literal) && !Number.isSafeInteger(Number(literal))) {
        // Escaped in the JSON text (a raw control character is not allowed in a JSON string).
        marked += `${text.slice(copied, i)}"\\u0000int:${literal}"`;
        copied = j;
      }
      i = j;
      continue;
    }
    i += 1;
  }
  if (copied === 0) return JSON.parse(text);
  marked += text.slice(copied);
  return JSON.parse(marked, (_key, value) =>
    typeof value === 'string' && value.startsWith(MARK) ? BigInt(value.slice(MARK.length)) : value,
  );
}

/** `JSON.stringify`, with every `bigint` written as a bare integer. */
export function stringifyLossless(value: unknown): string {
  const text = JSON.stringify(value, (_key, v) => (typeof v === 'bigint' ? `${MARK}${v}` : v));
  return text.replace(/"\\u0000int:(-?\d+)"/g, '$1');
}
