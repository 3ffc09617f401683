/**
 * Prints the README's capability table from what each store declares (`store.capabilities`),
 * so the table cannot drift from the code. test/readme.test.ts checks the README holds it.
 * Stores are built offline (no request is sent); where a capability is probed at run time
 * (S3 conditional writes), the table shows the value declared before the probe.
 *
 *   node --import tsx scripts/capability-table.ts
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CAPABILITY_NAMES, MemoryStore, type Store } from "../src/index.js";
import { AzureBlobStore } from "../src/stores/azure/index.js";
import { FileSystemStore } from "../src/stores/fs.js";
import { GcsStore } from "../src/stores/gcs/index.js";
import { HttpStore } from "../src/stores/http.js";
import { IcechunkStore } from "../src/stores/icechunk/index.js";
import { IPLDStore } from "../src/stores/ipld/index.js";
import { ReferenceStore } from "../src/stores/reference.js";
import { S3Store } from "../src/stores/s3/index.js";
import { SwiftStore } from "../src/stores/swift/index.js";
import { ZipStore } from "../src/stores/zip.js";

type Row = [name: string, make: (dir: string) => Promise<Store>];

const ROWS: Row[] = [
  ["MemoryStore", async () => new MemoryStore()],
  ["FileSystemStore", async (dir) => new FileSystemStore(join(dir, "fs"))],
  [
    "ZipStore (mode r)",
    async (dir) => {
      const w = await ZipStore.open(join(dir, "a.zip"), { mode: "w" });
      await w.close();
      return ZipStore.open(join(dir, "a.zip"));
    },
  ],
  ["ZipStore (mode w)", async (dir) => ZipStore.open(join(dir, "b.zip"), { mode: "w" })],
  ["HttpStore", async () => new HttpStore("http://127.0.0.1:9/data.zarr")],
  [
    "HttpStore (writable)",
    async () => new HttpStore("http://127.0.0.1:9/data.zarr", { writable: true }),
  ],
  [
    "S3Store",
    async () =>
      new S3Store({
        bucket: "bucket",
        endpoint: "http://127.0.0.1:9",
        region: "us-east-1",
        credentials: { accessKeyId: "a", secretAccessKey: "s" },
      }),
  ],
  [
    "SwiftStore",
    async () =>
      new SwiftStore({
        container: "data",
        storageOptions: { preauthurl: "http://127.0.0.1:9/v1/AUTH_a", preauthtoken: "t" },
      }),
  ],
  [
    "AzureBlobStore",
    async () =>
      new AzureBlobStore({
        account: "acct",
        container: "data",
        endpoint: "http://127.0.0.1:9/a",
        credential: { sasToken: "sv=x" },
      }),
  ],
  ["GcsStore", async () => new GcsStore({ bucket: "bucket", token: "t" })],
  ["IPLDStore", async () => new IPLDStore()],
  ["ReferenceStore", async () => new ReferenceStore({ version: 1, refs: {} })],
  ["IcechunkStore", async () => IcechunkStore.open(new MemoryStore(), { create: true })],
];

/** The markdown table: one row per store, one column per capability. */
export async function capabilityTable(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "zs-caps-"));
  const lines = [
    `| store | ${CAPABILITY_NAMES.join(" | ")} |`,
    `|---|${CAPABILITY_NAMES.map(() => ":-:").join("|")}|`,
  ];
  try {
    for (const [name, make] of ROWS) {
      const store = await make(dir);
      const cells = CAPABILITY_NAMES.map((cap) => (store.capabilities[cap] ? "✓" : "–"));
      lines.push(`| ${name} | ${cells.join(" | ")} |`);
      await store.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return lines.join("\n");
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(await capabilityTable());
}
