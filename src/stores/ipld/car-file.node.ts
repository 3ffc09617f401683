/** CAR files on disk as stores (Node only): `car://path` and `*.car` in `openStore`. */
import { randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { open, rename, rm } from "node:fs/promises";
import { StoreError } from "../../errors.js";
import type { Abandonable, CallOptions } from "../../store.js";
import { IPLDStore, type IPLDStoreOptions } from "./ipld-store.js";

/** Options for `openCarFile`. */
export interface CarFileOptions extends IPLDStoreOptions {
  /** `r` (default) opens the CAR's tree read-only; `w` starts an empty store written on `close()`. */
  mode?: "r" | "w";
}

/**
 * An IPLDStore that writes itself as a CARv1 to `path` when closed (temp file + rename, so the
 * file is whole or absent). `root` tells the root CID written.
 */
export class CarFileStore extends IPLDStore implements Abandonable {
  readonly path: string;
  #closed = false;
  #root: string | undefined;

  constructor(path: string, options: IPLDStoreOptions = {}) {
    super(undefined, options);
    this.path = path;
  }

  /** The root CID of the CAR written by `close()` (undefined before). */
  get root(): string | undefined {
    return this.#root;
  }

  /** Releases the store without writing the CAR: `path` is left as it was. Idempotent. */
  async abandon(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await super.close();
  }

  /** Writes the CAR (once), then releases the store. */
  override async close(options?: CallOptions): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const temp = `${this.path}.${randomBytes(6).toString("hex")}.tmp`;
    const handle = await open(temp, "wx");
    try {
      for await (const chunk of this.toCarStream(options)) await handle.write(chunk);
      await handle.close();
      await rename(temp, this.path);
      this.#root = (await this.freeze()).toString();
    } catch (error) {
      await handle.close().catch(() => {});
      await rm(temp, { force: true });
      throw error;
    }
    await super.close();
  }
}

/** Opens a CAR file: its tree read-only (mode `r`), or a new store written on close (mode `w`). */
export async function openCarFile(path: string, options: CarFileOptions = {}): Promise<IPLDStore> {
  if (options.mode === "w") return new CarFileStore(path, options);
  const store = new IPLDStore(undefined, { ...options, readOnly: true });
  try {
    // File streams never reuse their chunks: blocks are kept without a copy.
    await store.importCar(createReadStream(path, { highWaterMark: 1 << 20 }), { adopt: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") {
      throw new StoreError({
        code: "NotFound",
        message: `no CAR file at ${path} (use mode "w" to create one)`,
        operation: "open",
        backend: "IPLDStore",
      });
    }
    throw error;
  }
  return store;
}
