import { isStoreError, type StoreErrorCode } from "../errors.js";

/** A conformance expectation that did not hold. */
export class ConformanceFailure extends Error {
  override readonly name = "ConformanceFailure";
}

/** Fails unless `condition` holds. */
export function check(condition: unknown, message: string): asserts condition {
  if (!condition) throw new ConformanceFailure(message);
}

/** Fails unless the two values are deeply equal as JSON. */
export function checkEqual<T>(actual: T, expected: T, what: string): void {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new ConformanceFailure(`${what}: expected ${e}, got ${a}`);
}

/** Fails unless `actual` holds exactly the bytes of `expected`. */
export function checkBytes(
  actual: Uint8Array | undefined,
  expected: Uint8Array,
  what: string,
): void {
  if (actual === undefined)
    throw new ConformanceFailure(`${what}: expected ${expected.byteLength} bytes, got undefined`);
  if (!(actual instanceof Uint8Array))
    throw new ConformanceFailure(`${what}: expected a Uint8Array`);
  if (actual.byteLength !== expected.byteLength) {
    throw new ConformanceFailure(
      `${what}: expected ${expected.byteLength} bytes, got ${actual.byteLength}`,
    );
  }
  for (let i = 0; i < expected.byteLength; i++) {
    if (actual[i] !== expected[i])
      throw new ConformanceFailure(`${what}: bytes differ at offset ${i}`);
  }
}

/** Fails unless `run` rejects with a StoreError of one of the given codes. */
export async function checkRejects(
  run: () => Promise<unknown>,
  codes: StoreErrorCode | StoreErrorCode[],
  what: string,
): Promise<void> {
  const wanted = Array.isArray(codes) ? codes : [codes];
  try {
    await run();
  } catch (error) {
    if (isStoreError(error) && wanted.includes(error.code)) return;
    const got = isStoreError(error) ? `StoreError ${error.code}: ${error.message}` : String(error);
    throw new ConformanceFailure(`${what}: expected StoreError ${wanted.join("|")}, got ${got}`);
  }
  throw new ConformanceFailure(
    `${what}: expected StoreError ${wanted.join("|")}, but it succeeded`,
  );
}
