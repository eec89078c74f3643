/**
 * JSON with integers kept exactly. `JSON.parse` turns every number into a float64, so an integer
 * above 2^53 (Qdrant point ids go up to 2^64 - 1) comes back as a neighbouring value: ids are
 * rewritten, two ids can collide, and a `next_page_offset` can land past a point. Here an integer
 * literal that a float64 cannot hold exactly is parsed as a `bigint`, and a `bigint` is written back
 * as a bare JSON integer. Everything else is what `JSON.parse` / `JSON.stringify` make of it.
 */

const MARK = '\u0000int:';

/** Parses `text` like `JSON.parse`, but every integer outside the safe range becomes a `bigint`. */
export function parseLossless(text: string): unknown {
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
      while (j < text.length && /[0-9eE+\-.]/.test(text.charAt(j))) j += 1;
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
