import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as zarr from "zarrita";
import { isStoreError } from "../../src/errors.js";
import { listAll } from "../../src/helpers.js";
import { openStore } from "../../src/open.node.js";
import { IcechunkStore } from "../../src/stores/icechunk/index.js";
import { SwiftStore } from "../../src/stores/swift/index.js";
import { describeLive } from "../support/live.js";
import { type SwiftServer, startSwift, swiftAvailable } from "../support/swift.js";

let swift: SwiftServer;

function swiftStore(container: string, prefix = ""): SwiftStore {
  return new SwiftStore({
    container,
    prefix,
    storageOptions: { authurl: swift.authUrl, user: swift.user, key: swift.key },
  });
}

describeLive("Icechunk repositories on a real OpenStack Swift", swiftAvailable, () => {
  beforeAll(async () => {
    swift = await startSwift({ logLevel: "WARNING" });
  }, 120_000);
  afterAll(() => swift?.stop());

  it("writes, commits and reads back through icechunkStorage over SwiftStore", async () => {
    const store = await IcechunkStore.open(swiftStore("icechunk", "repos/air"), { create: true });
    const arr = await zarr.create(zarr.root(store).resolve("air"), {
      shape: [8, 8],
      chunkShape: [4, 4],
      dtype: "float32",
      fillValue: 0,
      attributes: { units: "degK" },
    });
    // 64 floats per chunk = 256 bytes; larger than that, so chunks become Swift objects.
    const big = await zarr.create(zarr.root(store).resolve("big"), {
      shape: [4096],
      chunkShape: [1024],
      dtype: "float64",
      fillValue: 0,
    });
    const values = Float32Array.from({ length: 64 }, (_, i) => 250 + i / 4);
    const bigValues = Float64Array.from({ length: 4096 }, (_, i) => Math.sin(i));
    await zarr.set(arr, null, { data: values, shape: [8, 8], stride: [8, 1] });
    await zarr.set(big, null, { data: bigValues, shape: [4096], stride: [1] });
    const first = await store.commit("air and big");
    await store.createTag("v1");
    await zarr.set(arr, [0, 0], -1);
    await store.commit("cold corner");

    // What Swift holds: Icechunk's layout under the prefix.
    const objects = await listAll(swiftStore("icechunk", "repos/air"));
    expect(objects).toContain("/repo");
    for (const folder of ["/snapshots/", "/manifests/", "/chunks/", "/transactions/"]) {
      expect(
        objects.some((key) => key.startsWith(folder)),
        folder,
      ).toBe(true);
    }

    // A second client, by URL, with credentials from the options.
    const reader = (await openStore("icechunk+swift://icechunk/repos/air#tag=v1", {
      storageOptions: { authurl: swift.authUrl, user: swift.user, key: swift.key },
    })) as IcechunkStore;
    expect(reader.snapshotId).toBe(first);
    const air = await zarr.open(zarr.root(reader).resolve("air"), { kind: "array" });
    expect(Array.from((await zarr.get(air)).data as Float32Array)).toEqual(Array.from(values));
    expect(air.attrs).toEqual({ units: "degK" });
    const bigRead = await zarr.open(zarr.root(reader).resolve("big"), { kind: "array" });
    expect(Array.from((await zarr.get(bigRead)).data as Float64Array)).toEqual(
      Array.from(bigValues),
    );

    const tip = await IcechunkStore.open(swiftStore("icechunk", "repos/air"), { readOnly: true });
    const airNow = await zarr.open(zarr.root(tip).resolve("air"), { kind: "array" });
    expect(((await zarr.get(airNow)).data as Float32Array)[0]).toBe(-1);
    expect((await tip.log()).map((s) => s.message)).toEqual([
      "cold corner",
      "air and big",
      "Repository initialized",
    ]);
  }, 120_000);

  it("two writers on Swift: one commit wins, the other gets Conflict, rebases and lands", async () => {
    const setup = await IcechunkStore.open(swiftStore("icechunk", "repos/race"), { create: true });
    const arr = await zarr.create(zarr.root(setup).resolve("x"), {
      shape: [4],
      chunkShape: [2],
      dtype: "int32",
      fillValue: 0,
    });
    await setup.commit("setup");
    const a = await IcechunkStore.open(swiftStore("icechunk", "repos/race"));
    const b = await IcechunkStore.open(swiftStore("icechunk", "repos/race"));
    await zarr.set(await zarr.open(zarr.root(a).resolve("x"), { kind: "array" }), [0], 1);
    await zarr.set(await zarr.open(zarr.root(b).resolve("x"), { kind: "array" }), [3], 2);
    await a.commit("a");
    const lost = await b.commit("b").catch((error: unknown) => error);
    expect(isStoreError(lost, "Conflict"), String(lost)).toBe(true);
    expect((lost as Error).message).toContain("branch 'main'");
    await b.rebase();
    await b.commit("b");
    const final = await IcechunkStore.open(swiftStore("icechunk", "repos/race"), {
      readOnly: true,
    });
    const read = await zarr.open(zarr.root(final).resolve("x"), { kind: "array" });
    expect(Array.from((await zarr.get(read)).data as Int32Array)).toEqual([1, 0, 0, 2]);
    expect(arr.shape).toEqual([4]);
  }, 120_000);

  describe("errors from Swift keep their codes", () => {
    it("a wrong key fails with Unauthenticated, not as a missing repository", async () => {
      const bad = new SwiftStore({
        container: "icechunk",
        prefix: "repos/air",
        storageOptions: { authurl: swift.authUrl, user: swift.user, key: "wrong-key" },
      });
      const error = await IcechunkStore.open(bad).catch((e: unknown) => e);
      expect(isStoreError(error), String(error)).toBe(true);
      expect(["Unauthenticated", "PermissionDenied"]).toContain((error as { code: string }).code);
      expect((error as Error).message).not.toContain("wrong-key");
    });
  });
});
