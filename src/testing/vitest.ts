import { afterAll, beforeAll, describe, it } from "vitest";
import type { Prefix } from "../keys.js";
import type { Store } from "../store.js";
import { CONFORMANCE_CASES, type Tier } from "./cases.js";
import { caseContext, randomRoot, removeRoot, skipReason } from "./run.js";

/** Options for `describeConformance`. */
export interface DescribeConformanceOptions {
  tier?: Tier;
  /** Makes a writable store over the same data, for read-only stores under test. */
  writer?: () => Store | Promise<Store>;
  /** Called after the cases, e.g. to close files or stop a server. */
  teardown?: (store: Store) => void | Promise<void>;
  /**
   * Removes what the cases wrote under `root`; by default `deletePrefix(root)`. A backend that
   * can drop everything at once (a whole bucket or container) may do that instead: some
   * emulators delete one object at a time in time proportional to all they hold.
   */
  cleanup?: (store: Store, root: Prefix) => void | Promise<void>;
}

/**
 * Registers the conformance cases as vitest tests, one `it` per case, skipped (with the
 * reason in the name) where the store lacks a capability.
 *
 * @example
 * describeConformance("MemoryStore", () => new MemoryStore());
 */
export function describeConformance(
  name: string,
  makeStore: () => Store | Promise<Store>,
  options: DescribeConformanceOptions = {},
): void {
  const tier = options.tier ?? "quick";
  describe(`${name} conformance (${tier})`, () => {
    let store: Store;
    let writer: Store | undefined;
    const root: Prefix = randomRoot();
    beforeAll(async () => {
      store = await makeStore();
      writer = options.writer ? await options.writer() : undefined;
    });
    // Removing what the heavy tier wrote (20,000 keys) takes minutes on some servers.
    afterAll(
      async () => {
        if (!store) return;
        try {
          if (options.cleanup) await options.cleanup(writer ?? store, root);
          else await removeRoot(writer ?? store, root);
        } finally {
          // A cleanup that fails still lets the servers and files go.
          try {
            await options.teardown?.(store);
          } finally {
            if (writer && writer !== store) await writer.close();
          }
        }
      },
      tier === "heavy" ? 600_000 : undefined,
    );
    for (const [index, c] of CONFORMANCE_CASES.entries()) {
      if (c.tier === "heavy" && tier !== "heavy") continue;
      it(
        c.name,
        async (test) => {
          const reason = skipReason(c, store, writer, tier);
          if (reason) {
            test.skip(reason);
            return;
          }
          await c.run(caseContext(store, writer, root, index));
        },
        // Heavy cases against emulators (Azurite scans every blob per request) take minutes.
        c.tier === "heavy" ? 600_000 : 60_000,
      );
    }
  });
}
