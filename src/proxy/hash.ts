/**
 * A small non-cryptographic hash (MurmurHash3, 32-bit) for ETags and cache identities: it
 * tells versions of one resource apart, it does not defend against anyone.
 */

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

/** Hashes bytes (MurmurHash3 x86 32-bit). */
export function hashBytes(bytes: Uint8Array, seed = 0): number {
  let h = seed >>> 0;
  const length = bytes.byteLength;
  const blocks = length >>> 2;
  // Read whole words through a Uint32Array when the view is aligned (the usual case).
  if (bytes.byteOffset % 4 === 0) {
    const words = new Uint32Array(bytes.buffer, bytes.byteOffset, blocks);
    for (let i = 0; i < blocks; i++) h = mixWord(h, words[i] as number);
  } else {
    for (let i = 0; i < blocks; i++) {
      const j = i * 4;
      const word =
        (bytes[j] as number) |
        ((bytes[j + 1] as number) << 8) |
        ((bytes[j + 2] as number) << 16) |
        ((bytes[j + 3] as number) << 24);
      h = mixWord(h, word);
    }
  }
  let tail = 0;
  const rest = length & 3;
  const at = blocks * 4;
  if (rest === 3) tail ^= (bytes[at + 2] as number) << 16;
  if (rest >= 2) tail ^= (bytes[at + 1] as number) << 8;
  if (rest >= 1) {
    tail ^= bytes[at] as number;
    tail = Math.imul(tail, C1);
    tail = (tail << 15) | (tail >>> 17);
    h ^= Math.imul(tail, C2);
  }
  return finish(h, length);
}

/** Hashes a string's UTF-16 code units. */
export function hashString(text: string, seed = 0): number {
  let h = seed >>> 0;
  for (let i = 0; i < text.length; i++) h = mixWord(h, text.charCodeAt(i));
  return finish(h, text.length);
}

/** Folds one more 32-bit value into a running hash. */
export function combine(h: number, value: number): number {
  return mixWord(h, value >>> 0) >>> 0;
}

/** Eight hex digits. */
export function hex(h: number): string {
  return (h >>> 0).toString(16).padStart(8, "0");
}

function mixWord(h: number, word: number): number {
  let k = Math.imul(word, C1);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, C2);
  let next = h ^ k;
  next = (next << 13) | (next >>> 19);
  return (Math.imul(next, 5) + 0xe6546b64) | 0;
}

function finish(h: number, length: number): number {
  let f = h ^ length;
  f ^= f >>> 16;
  f = Math.imul(f, 0x85ebca6b);
  f ^= f >>> 13;
  f = Math.imul(f, 0xc2b2ae35);
  f ^= f >>> 16;
  return f >>> 0;
}
