/**
 * Child process for test/stores/fs-crash.test.ts: writes large values to two keys of a
 * FileSystemStore in a loop until killed, announcing each write on stdout before it starts
 * ("begin <key> <generation>") and after it resolves ("end <key> <generation>").
 *
 *   node --import tsx test/support/fs-crash-child.ts <root> <size>
 */
import { FileSystemStore } from "../../src/stores/fs.js";

/** The value a generation writes: every 32-bit word derived from the generation and its index. */
export function crashValue(generation: number, size: number): Uint8Array {
  const words = new Uint32Array(size / 4);
  for (let i = 0; i < words.length; i++) words[i] = (Math.imul(generation, 2654435761) + i) >>> 0;
  words[0] = generation;
  return new Uint8Array(words.buffer);
}

export const CRASH_KEYS = ["/data/c/0", "/data/c/1"] as const;

async function main(root: string, size: number): Promise<void> {
  const store = new FileSystemStore(root);
  for (let generation = 1; ; generation++) {
    const key = CRASH_KEYS[generation % 2] as (typeof CRASH_KEYS)[number];
    const value = crashValue(generation, size);
    process.stdout.write(`begin ${key} ${generation}\n`);
    await store.set(key, value);
    process.stdout.write(`end ${key} ${generation}\n`);
  }
}

if (process.argv[1]?.endsWith("fs-crash-child.ts")) {
  await main(process.argv[2] as string, Number(process.argv[3]));
}
