import { createHash } from "node:crypto";
import { afterAll, beforeAll, expect, it } from "vitest";
import { compose } from "../../src/adapters/compose.js";
import { withConcurrency } from "../../src/adapters/concurrency.js";
import { type RetryEvent, withRetry } from "../../src/adapters/retry.js";
import { withTimeout } from "../../src/adapters/timeout.js";
import { listAll } from "../../src/helpers.js";
import type { Store } from "../../src/store.js";
import { SwiftStore } from "../../src/stores/swift/index.js";
import {
  bytesFor,
  copyKeys,
  type FaultProxy,
  inParallel,
  sameBytes,
  startFaultProxy,
} from "../support/faults.js";
import { describeLive } from "../support/live.js";
import { type SwiftServer, startSwift, swiftAvailable, swiftToken } from "../support/swift.js";

const KEYS = copyKeys();

describeLive(
  "a 1,000-key copy into a real Swift through a faulty TCP proxy",
  swiftAvailable,
  () => {
    let swift: SwiftServer;
    let proxy: FaultProxy;
    beforeAll(async () => {
      swift = await startSwift({ logLevel: "WARNING" });
      proxy = await startFaultProxy(
        { host: "127.0.0.1", port: swift.port },
        { seed: 7, rate: 0.1, retryAfterSeconds: 0, slowMs: 30 },
      );
    }, 120_000);
    afterAll(async () => {
      await proxy?.stop();
      await swift?.stop();
    });

    it("survives resets, 503s, slow and truncated answers with every value verified", async () => {
      const retries: RetryEvent[] = [];
      // Authentication goes through the proxy too: tempauth hands out a storage URL on the
      // proxy's port, so every later request crosses it as well.
      const throughProxy = new SwiftStore({
        container: "faults",
        prefix: "run",
        storageOptions: {
          authurl: `http://127.0.0.1:${proxy.port}/auth/v1.0`,
          user: swift.user,
          key: swift.key,
        },
      });
      const store = compose(
        throughProxy as Store,
        (s) => withTimeout(s, { ms: 10_000 }),
        (s) => withConcurrency(s, { limit: 16 }),
        (s) =>
          withRetry(s, {
            retries: 8,
            baseDelayMs: 5,
            maxDelayMs: 100,
            budget: Number.POSITIVE_INFINITY,
            onRetry: (e) => retries.push(e),
          }),
      );
      await inParallel(KEYS, 16, async (key, i) => {
        await store.set(key, bytesFor(i), i % 2 ? { ifNoneMatch: "*" } : {});
      });
      expect(await listAll(store, "/copy/")).toEqual([...KEYS].sort());
      const wrong: string[] = [];
      await inParallel(KEYS, 16, async (key, i) => {
        if (!sameBytes(await store.get(key), bytesFor(i))) wrong.push(key);
      });
      expect(wrong).toEqual([]);

      // Straight to Swift, around the proxy, in one listing: what landed is exactly what was
      // written (Swift's hash is the MD5 of the object).
      const { token, storageUrl } = await swiftToken(swift);
      const listing = await fetch(`${storageUrl}/faults?format=json&prefix=run/copy/&limit=10000`, {
        headers: { "X-Auth-Token": token },
      });
      const rows = (await listing.json()) as { name: string; hash: string; bytes: number }[];
      const hashes = new Map(rows.map((row) => [`/${row.name.slice("run/".length)}`, row.hash]));
      const landed = KEYS.filter(
        (key, i) => hashes.get(key) !== createHash("md5").update(bytesFor(i)).digest("hex"),
      );
      expect(rows).toHaveLength(1000);
      expect(landed).toEqual([]);

      const { injected } = proxy.stats;
      for (const kind of ["unavailable", "rateLimited", "reset", "slow", "truncate"] as const) {
        expect(injected[kind], kind).toBeGreaterThan(5);
      }
      expect(retries.length).toBeGreaterThan(100);
      await throughProxy.close();
    }, 120_000);
  },
);
