import { describe } from "vitest";

/**
 * Runs a live suite (a real server, a real client) when its prerequisite is there. When it is
 * not: with `CI` set the suite fails (a live suite never skips in CI); elsewhere it skips, loudly.
 *
 * @param available resolves to `true`, or to the reason the suite cannot run.
 */
export function describeLive(name: string, available: () => true | string, body: () => void): void {
  const status = available();
  if (status === true) {
    describe(name, body);
    return;
  }
  if (process.env.CI) {
    describe(name, () => {
      throw new Error(`live suite '${name}' cannot run in CI: ${status}`);
    });
    return;
  }
  console.warn(`\n*** SKIPPING live suite '${name}': ${status} ***\n`);
  describe.skip(name, body);
}
