import * as fs from "node:fs";
import * as nodePath from "node:path";
import * as zlib from "node:zlib";
import { StoreError, throwIfAborted, unsupported } from "../errors.js";
import { type AbsolutePath, toKey, toPrefix } from "../keys.js";
import { compareKeys, listDirFromKeys } from "../listing.js";
import { resolveRange } from "../ranges.js";
import type {
  Abandonable,
  CallOptions,
  Capabilities,
  ListDirResult,
  RangeQuery,
  SetOptions,
  SetResult,
  StatResult,
  Store,
} from "../store.js";

/** Options for `ZipStore.open`. */
export interface ZipStoreOptions {
  /** `r` reads an existing archive (default); `w` writes a new one, finished by `close()`. */
  mode?: "r" | "w";
  /**
   * How mode `w` stores values: `store` (default, as zarr-python's ZipStore does: chunks are
   * compressed already, and stored entries serve byte ranges without reading the whole value)
   * or `deflate`.
   */
  compression?: "store" | "deflate";
}

/** An archive entry that `ZipStore` will not serve, and why. */
export interface SkippedEntry {
  name: string;
  reason: string;
}

interface Entry {
  key: AbsolutePath;
  /** The name as stored in the archive (UTF-8 or CP437 decoded). */
  name: string;
  nameBytes: Uint8Array;
  flags: number;
  method: number;
  crc: number;
  compressedSize: number;
  size: number;
  headerOffset: number;
  /** Where the data starts: known when we wrote it, else read from the local header on first use. */
  dataOffset: number | undefined;
  /** Mode w: the entry's (compressed) data while it waits in the write buffer. */
  buffered?: Uint8Array | undefined;
  dosTime: number;
  dosDate: number;
}

const BACKEND = "ZipStore";
const STORED = 0;
const DEFLATED = 8;

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const ZIP64_EXTRA = 0x0001;
const U16_MAX = 0xffff;
const U32_MAX = 0xffffffff;
const FLAG_ENCRYPTED = 0x1;
const FLAG_UTF8 = 0x800;
const LOCAL_HEADER = 30;
const CENTRAL_HEADER = 46;
const EOCD_SIZE = 22;
const ZIP64_EOCD_SIZE = 56;
const ZIP64_LOCATOR_SIZE = 20;
// A version needed to extract of 4.5 announces Zip64; 2.0 deflate; 1.0 stored.
const VERSION_ZIP64 = 45;
const VERSION_DEFLATE = 20;
const VERSION_STORED = 10;
// Made by UNIX (3) so that the external attributes carry a file mode (rw-r--r--).
const VERSION_MADE_BY = (3 << 8) | VERSION_ZIP64;
const FILE_MODE_ATTRS = (0o100644 << 16) >>> 0;

// 1 MiB: one write per this many bytes of small entries; larger values are written alone.
const WRITE_BATCH = 1 << 20;

const encoder = new TextEncoder();
const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * A Zarr hierarchy in a zip archive, as zarr-python's `ZipStore` writes it.
 *
 * Mode `r` reads the central directory once (Zip64 included) and then each value with one
 * positioned read, never loading the archive: stored entries serve byte ranges by reading only
 * those bytes; deflated ones are inflated whole. Every whole read is checked against its CRC-32.
 * Where a name appears twice (zarr-python's ZipStore appends a new entry when a key is
 * rewritten), the last one wins, as in Python's `zipfile`. Entries whose names cannot be keys
 * (`../x`, `/abs`, backslashes, control characters) are never served and are listed in
 * `skipped`.
 *
 * Mode `w` streams a new archive to a temporary file next to `path`: each `set` appends one
 * entry, readable as soon as it resolves; `close()` writes the central directory and renames the
 * file onto `path`. Overwriting or deleting a key is not possible in an archive being streamed
 * (`Unsupported`). An archive that is never closed is left as `<path>.zstmp-*`, not at `path`.
 *
 * A truncated or corrupt archive raises `Integrity`, naming the file.
 *
 * @example
 * const zip = await ZipStore.open("data.zarr.zip");
 * const meta = await zip.get("/.zmetadata");
 * await zip.close();
 */
export class ZipStore implements Store, Abandonable {
  readonly capabilities: Capabilities;
  /** Entries of the archive that are not served (bad names, folders are not counted). */
  readonly skipped: readonly SkippedEntry[];
  readonly #path: string;
  readonly #file: fs.promises.FileHandle;
  readonly #writing: boolean;
  readonly #deflate: boolean;
  readonly #entries: Map<string, Entry>;
  /** Keys being appended (mode w): taken before the write so no key is written twice. */
  readonly #reserved = new Set<string>();
  readonly #tempPath: string | undefined;
  /** Appends under way (mode w): close() lets them land first. */
  readonly #appending = new Set<Promise<Entry>>();
  /** Where the next entry goes (mode w), counting what still waits in the buffer. */
  #offset = 0;
  /** Records not yet written, and the entries whose data they hold. */
  #buffer: Uint8Array[] = [];
  #bufferBytes = 0;
  #bufferEntries: Entry[] = [];
  /** File writes run one after the other, in offset order. */
  #writes: Promise<void> = Promise.resolve();
  /** The first failed write: the archive cannot be finished after it. */
  #failure: StoreError | undefined;
  #closed = false;

  private constructor(init: {
    path: string;
    file: fs.promises.FileHandle;
    entries: Map<string, Entry>;
    skipped: SkippedEntry[];
    writing: boolean;
    deflate: boolean;
    tempPath?: string;
  }) {
    this.#path = init.path;
    this.#file = init.file;
    this.#entries = init.entries;
    this.skipped = Object.freeze(init.skipped);
    this.#writing = init.writing;
    this.#deflate = init.deflate;
    this.#tempPath = init.tempPath;
    const ranged = init.writing
      ? !init.deflate
      : [...init.entries.values()].every((e) => e.method === STORED);
    this.capabilities = Object.freeze({
      write: init.writing,
      overwrite: false,
      delete: false,
      list: true,
      // Byte ranges read only their bytes when every entry is stored; deflated ones inflate whole.
      getRange: ranged,
      suffixRange: ranged,
      conditionalWrite: false,
      atomicWrite: true,
      etag: true,
    });
  }

  /**
   * Opens an archive: mode `r` (default) reads `path`; mode `w` starts a new archive that
   * replaces `path` when `close()` finishes it.
   */
  static async open(path: string, options: ZipStoreOptions = {}): Promise<ZipStore> {
    const mode = options.mode ?? "r";
    if (mode !== "r" && mode !== "w") {
      throw new StoreError({
        code: "Config",
        message: `ZipStore mode must be "r" or "w", not ${JSON.stringify(mode)}`,
        operation: "open",
        backend: BACKEND,
      });
    }
    const resolved = nodePath.resolve(path);
    if (mode === "w") return ZipStore.#create(resolved, options.compression === "deflate");
    let file: fs.promises.FileHandle;
    try {
      file = await fs.promises.open(resolved, "r");
    } catch (error) {
      throw openError(error, resolved);
    }
    try {
      const size = (await file.stat()).size;
      const { entries, skipped } = await readCentralDirectory(file, size, resolved);
      return new ZipStore({
        path: resolved,
        file,
        entries,
        skipped,
        writing: false,
        deflate: false,
      });
    } catch (error) {
      await file.close();
      throw error;
    }
  }

  static async #create(path: string, deflate: boolean): Promise<ZipStore> {
    const suffix = Math.floor(Math.random() * 0xffffffff).toString(36);
    const tempPath = `${path}.zstmp-${suffix}`;
    let file: fs.promises.FileHandle;
    try {
      file = await fs.promises.open(tempPath, "wx+");
    } catch (error) {
      throw openError(error, path);
    }
    return new ZipStore({
      path,
      file,
      entries: new Map(),
      skipped: [],
      writing: true,
      deflate,
      tempPath,
    });
  }

  /** The archive's path. */
  get path(): string {
    return this.#path;
  }

  async get(key: AbsolutePath, options?: CallOptions): Promise<Uint8Array | undefined> {
    const entry = this.#lookup(key, "get");
    throwIfAborted(options?.signal, "get", key);
    return entry && this.#readWhole(entry, "get");
  }

  async getRange(
    key: AbsolutePath,
    range: RangeQuery,
    options?: CallOptions,
  ): Promise<Uint8Array | undefined> {
    const entry = this.#lookup(key, "getRange");
    throwIfAborted(options?.signal, "getRange", key);
    if (entry === undefined) return undefined;
    const { start, end } = resolveRange(range, entry.size, entry.key);
    if (entry.method !== STORED)
      return (await this.#readWhole(entry, "getRange")).slice(start, end);
    return this.#readData(entry, start, end - start, "getRange");
  }

  async stat(key: AbsolutePath, options?: CallOptions): Promise<StatResult | undefined> {
    const entry = this.#lookup(key, "stat");
    throwIfAborted(options?.signal, "stat", key);
    return entry && { size: entry.size, etag: etagOf(entry), lastModified: dosToDate(entry) };
  }

  async set(key: AbsolutePath, value: Uint8Array, options?: SetOptions): Promise<void> {
    await this.put(key, value, options);
  }

  /**
   * Appends a value (mode `w`). A key already in the archive is `ConditionFailed` with
   * `ifNoneMatch: "*"` and `Unsupported` otherwise: an archive being streamed cannot replace it.
   */
  async put(key: AbsolutePath, value: Uint8Array, options?: SetOptions): Promise<SetResult> {
    const valid = toKey(key);
    this.#assertOpen("set", valid);
    if (!this.#writing) throw readOnly("set", valid);
    if (!(value instanceof Uint8Array)) {
      throw new StoreError({
        code: "Config",
        message: "values must be Uint8Array",
        operation: "set",
        key: valid,
        backend: BACKEND,
      });
    }
    if (options?.ifMatch !== undefined) {
      throw unsupported(BACKEND, "set", "ifMatch: entries of an archive cannot be replaced");
    }
    throwIfAborted(options?.signal, "set", valid);
    if (this.#reserved.has(valid)) {
      if (options?.ifNoneMatch === "*") {
        throw new StoreError({
          code: "ConditionFailed",
          message: `cannot set ${valid}: the key already exists (ifNoneMatch: '*')`,
          operation: "set",
          key: valid,
          backend: BACKEND,
        });
      }
      throw unsupported(
        BACKEND,
        "set",
        `${valid} is already in the archive and zip entries cannot be overwritten`,
      );
    }
    this.#reserved.add(valid);
    const appending = this.#append(valid, value);
    this.#appending.add(appending);
    try {
      return { etag: etagOf(await appending) };
    } catch (error) {
      this.#reserved.delete(valid);
      throw error;
    } finally {
      this.#appending.delete(appending);
    }
  }

  async delete(key: AbsolutePath, _options?: CallOptions): Promise<void> {
    const valid = toKey(key);
    if (!this.#writing) throw readOnly("delete", valid);
    throw unsupported(BACKEND, "delete", "entries of a zip archive cannot be removed");
  }

  async deletePrefix(prefix: string, _options?: CallOptions): Promise<void> {
    const folder = toPrefix(prefix);
    if (!this.#writing) throw readOnly("deletePrefix", folder);
    throw unsupported(BACKEND, "deletePrefix", "entries of a zip archive cannot be removed");
  }

  async *list(prefix?: string, options?: CallOptions): AsyncIterable<AbsolutePath> {
    const folder = toPrefix(prefix);
    this.#assertOpen("list", folder);
    const keys = [...this.#entries.keys()].filter((k) => k.startsWith(folder)).sort(compareKeys);
    for (const key of keys) {
      throwIfAborted(options?.signal, "list", folder);
      yield key as AbsolutePath;
    }
  }

  async listDir(prefix?: string, options?: CallOptions): Promise<ListDirResult> {
    const folder = toPrefix(prefix);
    this.#assertOpen("listDir", folder);
    throwIfAborted(options?.signal, "listDir", folder);
    return listDirFromKeys(this.#entries.keys(), folder);
  }

  /** Mode `w`: finishes the archive (central directory) and moves it onto `path`. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      if (this.#writing) {
        await Promise.allSettled(this.#appending);
        await this.#finish();
      }
    } catch (error) {
      await this.#file.close().catch(ignore);
      if (this.#tempPath) await fs.promises.rm(this.#tempPath, { force: true });
      throw error instanceof StoreError ? error : ioError(error, this.#path, "close");
    }
    await this.#file.close();
    if (this.#tempPath) await fs.promises.rename(this.#tempPath, this.#path);
  }

  /**
   * Mode `w`: drops the archive being written (its temporary file) and leaves `path` as it was;
   * mode `r`: the same as `close()`. Idempotent, and a no-op after `close()`.
   */
  async abandon(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.allSettled(this.#appending);
    await this.#file.close().catch(ignore);
    if (this.#tempPath) await fs.promises.rm(this.#tempPath, { force: true });
  }

  // ---- reading ----------------------------------------------------------------------------

  #lookup(key: string, operation: string): Entry | undefined {
    const valid = toKey(key);
    this.#assertOpen(operation, valid);
    return this.#entries.get(valid);
  }

  #assertOpen(operation: string, key: string): void {
    if (this.#closed) {
      throw new StoreError({
        code: "Config",
        message: `${BACKEND} ${this.#path} is closed: open it again to ${operation} ${key}`,
        operation,
        key,
        backend: BACKEND,
      });
    }
  }

  async #readWhole(entry: Entry, operation: string): Promise<Uint8Array> {
    if (entry.flags & FLAG_ENCRYPTED) {
      throw unsupported(BACKEND, operation, `${entry.key} is encrypted`);
    }
    if (entry.method !== STORED && entry.method !== DEFLATED) {
      throw unsupported(
        BACKEND,
        operation,
        `${entry.key} uses compression method ${entry.method}; only stored (0) and deflate (8) are read`,
      );
    }
    const raw = await this.#readData(entry, 0, entry.compressedSize, operation);
    let value: Uint8Array;
    if (entry.method === STORED) {
      if (entry.compressedSize !== entry.size) {
        throw this.#corrupt(entry.key, operation, "a stored entry's sizes disagree");
      }
      value = raw;
    } else {
      value = await inflate(raw, entry.size).catch((cause: unknown) => {
        throw this.#corrupt(entry.key, operation, "its deflate data does not inflate", cause);
      });
      if (value.byteLength !== entry.size) {
        throw this.#corrupt(entry.key, operation, "it inflates to the wrong size");
      }
    }
    if (crc32(value) !== entry.crc) {
      throw this.#corrupt(entry.key, operation, "CRC-32 mismatch: the data is damaged");
    }
    return value;
  }

  /** A copy of bytes of an entry's stored data: from the write buffer while it waits there, else the file. */
  async #readData(
    entry: Entry,
    start: number,
    length: number,
    operation: string,
  ): Promise<Uint8Array> {
    const buffered = entry.buffered;
    if (buffered) return buffered.slice(start, start + length);
    const dataOffset = await this.#dataOffset(entry, operation);
    return this.#readBytes(dataOffset + start, length, entry.key, operation);
  }

  /** Where an entry's data begins, from its local header (read once). */
  async #dataOffset(entry: Entry, operation: string): Promise<number> {
    if (entry.dataOffset !== undefined) return entry.dataOffset;
    const header = await this.#readBytes(entry.headerOffset, LOCAL_HEADER, entry.key, operation);
    const view = dataView(header);
    if (view.getUint32(0, true) !== SIG_LOCAL) {
      throw this.#corrupt(entry.key, operation, "no local file header where the directory points");
    }
    const nameLength = view.getUint16(26, true);
    const extraLength = view.getUint16(28, true);
    entry.dataOffset = entry.headerOffset + LOCAL_HEADER + nameLength + extraLength;
    return entry.dataOffset;
  }

  async #readBytes(
    position: number,
    length: number,
    key: string,
    operation: string,
  ): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    let done = 0;
    try {
      while (done < length) {
        const { bytesRead } = await this.#file.read(out, done, length - done, position + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
    } catch (error) {
      throw ioError(error, this.#path, operation, key);
    }
    if (done < length) throw this.#corrupt(key, operation, "the archive ends early (truncated)");
    return out;
  }

  #corrupt(key: string, operation: string, why: string, cause?: unknown): StoreError {
    return new StoreError({
      code: "Integrity",
      message: `${this.#path}: ${key}: ${why}`,
      operation,
      key,
      backend: BACKEND,
      cause,
    });
  }

  // ---- writing ----------------------------------------------------------------------------

  /**
   * Appends an entry. Small records gather in a buffer written in one go when it reaches
   * `WRITE_BATCH` bytes (one syscall for hundreds of chunks); their data is served from the
   * buffer meanwhile. Offsets are assigned here, synchronously, so the file stays in order.
   */
  async #append(key: AbsolutePath, value: Uint8Array): Promise<Entry> {
    if (this.#failure) throw this.#failure;
    // Copy (or compress) now: the caller may reuse its buffer once set() returns.
    const data = this.#deflate ? await deflate(value) : value.slice();
    const nameBytes = encoder.encode(key.slice(1));
    const { time, date } = dosDateTime(new Date());
    const entry: Entry = {
      key,
      name: key.slice(1),
      nameBytes,
      flags: isAscii(nameBytes) ? 0 : FLAG_UTF8,
      method: this.#deflate ? DEFLATED : STORED,
      crc: crc32(value),
      compressedSize: data.byteLength,
      size: value.byteLength,
      headerOffset: this.#offset,
      dataOffset: undefined,
      buffered: data,
      dosTime: time,
      dosDate: date,
    };
    const header = localHeader(entry);
    entry.dataOffset = this.#offset + header.byteLength;
    this.#offset = entry.dataOffset + data.byteLength;
    this.#buffer.push(header, data);
    this.#bufferBytes += header.byteLength + data.byteLength;
    this.#bufferEntries.push(entry);
    this.#entries.set(key, entry);
    // Large values go out at once; the caller waits for its own flush (back-pressure).
    if (this.#bufferBytes >= WRITE_BATCH) await this.#flush();
    return entry;
  }

  /** Writes the buffer at its offset; resolves when it is in the file. */
  #flush(): Promise<void> {
    if (this.#bufferBytes === 0) return this.#writes;
    const parts = this.#buffer;
    const entries = this.#bufferEntries;
    const position = this.#offset - this.#bufferBytes;
    this.#buffer = [];
    this.#bufferBytes = 0;
    this.#bufferEntries = [];
    this.#writes = this.#writes.then(async () => {
      if (this.#failure) throw this.#failure;
      try {
        await writeAll(this.#file, parts, position);
      } catch (error) {
        this.#failure = ioError(error, this.#path, "set");
        throw this.#failure;
      }
      for (const entry of entries) entry.buffered = undefined;
    });
    return this.#writes;
  }

  /** Writes the central directory and the end records (Zip64 ones when needed). */
  async #finish(): Promise<void> {
    await this.#flush();
    const parts: Uint8Array[] = [];
    const entries = [...this.#entries.values()];
    const cdOffset = this.#offset;
    let cdSize = 0;
    for (const entry of entries) {
      const header = centralHeader(entry);
      parts.push(header);
      cdSize += header.byteLength;
    }
    const needZip64 = entries.length >= U16_MAX || cdOffset >= U32_MAX || cdSize >= U32_MAX;
    if (needZip64) {
      const zip64Offset = cdOffset + cdSize;
      parts.push(zip64EndRecord(entries.length, cdSize, cdOffset));
      parts.push(zip64Locator(zip64Offset));
    }
    parts.push(endRecord(entries.length, cdSize, cdOffset));
    await writeAll(this.#file, parts, cdOffset);
    await this.#file.truncate(cdOffset + parts.reduce((n, p) => n + p.byteLength, 0));
    // One fsync per archive: cheap, and the archive is whole on disk before it takes the name.
    await this.#file.sync();
  }
}

// ---- central directory --------------------------------------------------------------------

async function readCentralDirectory(
  file: fs.promises.FileHandle,
  fileSize: number,
  path: string,
): Promise<{ entries: Map<string, Entry>; skipped: SkippedEntry[] }> {
  const corrupt = (why: string) =>
    new StoreError({
      code: "Integrity",
      message: `${path} is not a readable zip archive: ${why}`,
      operation: "open",
      backend: BACKEND,
    });
  const read = async (position: number, length: number): Promise<DataView> => {
    if (position < 0 || position + length > fileSize) throw corrupt("it is truncated");
    const buffer = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await file.read(buffer, done, length - done, position + done);
      if (bytesRead === 0) throw corrupt("it is truncated");
      done += bytesRead;
    }
    return dataView(buffer);
  };

  // The end record is in the last 22 + 65,535 (comment) bytes.
  const tailLength = Math.min(fileSize, EOCD_SIZE + U16_MAX);
  if (fileSize < EOCD_SIZE) throw corrupt("it is too short to be a zip (truncated?)");
  const tailStart = fileSize - tailLength;
  const tail = await read(tailStart, tailLength);
  const eocdAt = findEndRecord(tail);
  if (eocdAt < 0) throw corrupt("no end of central directory record (truncated or not a zip)");
  let count = tail.getUint16(eocdAt + 10, true);
  let cdSize = tail.getUint32(eocdAt + 12, true);
  let cdOffset = tail.getUint32(eocdAt + 16, true);
  let cdEnd = tailStart + eocdAt;
  if (tail.getUint16(eocdAt + 4, true) !== 0 || tail.getUint16(eocdAt + 6, true) !== 0) {
    throw corrupt("multi-disk (split) archives are not supported");
  }
  // Zip64: a locator sits right before the end record and points at the Zip64 end record.
  const locatorAt = cdEnd - ZIP64_LOCATOR_SIZE;
  if (locatorAt >= 0) {
    const locator = await read(locatorAt, ZIP64_LOCATOR_SIZE);
    if (locator.getUint32(0, true) === SIG_ZIP64_LOCATOR) {
      // Read the record where it really is (right before the locator), not where the locator's
      // offset says: that offset does not count bytes prepended to the archive. Python does so too.
      const zip64At = locatorAt - ZIP64_EOCD_SIZE;
      const record = await read(zip64At, ZIP64_EOCD_SIZE);
      if (record.getUint32(0, true) !== SIG_ZIP64_EOCD) throw corrupt("bad Zip64 end record");
      count = toSafeNumber(record.getBigUint64(32, true));
      cdSize = toSafeNumber(record.getBigUint64(40, true));
      cdOffset = toSafeNumber(record.getBigUint64(48, true));
      cdEnd = zip64At;
    }
  }
  // Bytes prepended to the archive (a self-extractor stub) shift every offset by `shift`.
  const shift = cdEnd - cdSize - cdOffset;
  if (shift < 0) throw corrupt("the central directory lies past its end record (truncated)");
  const cd = await read(cdOffset + shift, cdSize);

  const entries = new Map<string, Entry>();
  const skipped: SkippedEntry[] = [];
  let at = 0;
  for (let i = 0; i < count; i++) {
    if (at + CENTRAL_HEADER > cdSize || cd.getUint32(at, true) !== SIG_CENTRAL) {
      throw corrupt(`central directory entry ${i} is damaged`);
    }
    const flags = cd.getUint16(at + 8, true);
    const method = cd.getUint16(at + 10, true);
    const dosTime = cd.getUint16(at + 12, true);
    const dosDate = cd.getUint16(at + 14, true);
    const crc = cd.getUint32(at + 16, true);
    let compressedSize = cd.getUint32(at + 20, true);
    let size = cd.getUint32(at + 24, true);
    const nameLength = cd.getUint16(at + 28, true);
    const extraLength = cd.getUint16(at + 30, true);
    const commentLength = cd.getUint16(at + 32, true);
    let headerOffset = cd.getUint32(at + 42, true);
    const next = at + CENTRAL_HEADER + nameLength + extraLength + commentLength;
    if (next > cdSize) throw corrupt(`central directory entry ${i} runs past the directory`);
    const nameStart = cd.byteOffset + at + CENTRAL_HEADER;
    const nameBytes = new Uint8Array(cd.buffer, nameStart, nameLength);
    const extra = new DataView(cd.buffer, nameStart + nameLength, extraLength);
    at = next;
    // Zip64 extended information holds the fields saturated in the header, in this order.
    const zip64 = findExtra(extra, ZIP64_EXTRA);
    if (zip64) {
      let z = 0;
      const next64 = () => {
        if (z + 8 > zip64.byteLength) throw corrupt(`entry ${i}'s Zip64 field is too short`);
        const v = toSafeNumber(zip64.getBigUint64(z, true));
        z += 8;
        return v;
      };
      if (size === U32_MAX) size = next64();
      if (compressedSize === U32_MAX) compressedSize = next64();
      if (headerOffset === U32_MAX) headerOffset = next64();
    }
    const name = decodeName(nameBytes, flags);
    if (name.endsWith("/")) continue; // a folder entry, not a value
    const key = keyOfName(name);
    if (typeof key !== "string") {
      skipped.push({ name, reason: key.reason });
      continue;
    }
    if (headerOffset + shift + LOCAL_HEADER + compressedSize > fileSize) {
      throw corrupt(`the data of ${name} lies past the end of the file (truncated)`);
    }
    // A later entry of the same name replaces an earlier one, as in Python's zipfile.
    entries.set(key, {
      key,
      name,
      nameBytes: nameBytes.slice(),
      flags,
      method,
      crc,
      compressedSize,
      size,
      headerOffset: headerOffset + shift,
      dataOffset: undefined,
      dosTime,
      dosDate,
    });
  }
  return { entries, skipped };
}

function findEndRecord(tail: DataView): number {
  // Prefer a record whose comment ends exactly at the end of the file; accept trailing bytes.
  let loose = -1;
  for (let i = tail.byteLength - EOCD_SIZE; i >= 0; i--) {
    if (tail.getUint32(i, true) !== SIG_EOCD) continue;
    const end = i + EOCD_SIZE + tail.getUint16(i + 20, true);
    if (end === tail.byteLength) return i;
    if (end < tail.byteLength && loose < 0) loose = i;
  }
  return loose;
}

function findExtra(extra: DataView, id: number): DataView | undefined {
  let at = 0;
  while (at + 4 <= extra.byteLength) {
    const fieldId = extra.getUint16(at, true);
    const length = extra.getUint16(at + 2, true);
    if (at + 4 + length > extra.byteLength) return undefined;
    if (fieldId === id) return new DataView(extra.buffer, extra.byteOffset + at + 4, length);
    at += 4 + length;
  }
  return undefined;
}

/** The key an entry name maps to, or why it has none (names that could escape a folder). */
function keyOfName(name: string): AbsolutePath | { reason: string } {
  if (name.startsWith("/")) return { reason: "an absolute path" };
  if (/^[a-zA-Z]:/.test(name)) return { reason: "a drive-letter path" };
  try {
    return toKey(`/${name}`);
  } catch (error) {
    return { reason: error instanceof Error ? error.message : String(error) };
  }
}

// Code page 437, bytes 0x80–0xFF: zip names without the UTF-8 flag use it (Python's zipfile too).
const CP437_HIGH =
  "ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u00a0";

function decodeName(bytes: Uint8Array, flags: number): string {
  if (flags & FLAG_UTF8) {
    try {
      return utf8.decode(bytes);
    } catch {
      return String.fromCharCode(...bytes);
    }
  }
  let out = "";
  for (const b of bytes) out += b < 0x80 ? String.fromCharCode(b) : CP437_HIGH[b - 0x80];
  return out;
}

function isAscii(bytes: Uint8Array): boolean {
  for (const b of bytes) if (b >= 0x80) return false;
  return true;
}

function toSafeNumber(value: bigint): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new StoreError({
      code: "Integrity",
      message: "a Zip64 size or offset is beyond 2^53 bytes",
      backend: BACKEND,
    });
  }
  return Number(value);
}

// ---- records we write ---------------------------------------------------------------------

function localHeader(entry: Entry): Uint8Array {
  // Sizes are known before the data is written, so no data descriptor is needed. Zip64 sizes
  // go in an extra field with both sizes, as the spec requires for local headers.
  const zip64 = entry.size >= U32_MAX || entry.compressedSize >= U32_MAX;
  const extraLength = zip64 ? 20 : 0;
  const out = new Uint8Array(LOCAL_HEADER + entry.nameBytes.byteLength + extraLength);
  const v = dataView(out);
  v.setUint32(0, SIG_LOCAL, true);
  v.setUint16(4, versionNeeded(entry, zip64), true);
  v.setUint16(6, entry.flags, true);
  v.setUint16(8, entry.method, true);
  v.setUint16(10, entry.dosTime, true);
  v.setUint16(12, entry.dosDate, true);
  v.setUint32(14, entry.crc, true);
  v.setUint32(18, zip64 ? U32_MAX : entry.compressedSize, true);
  v.setUint32(22, zip64 ? U32_MAX : entry.size, true);
  v.setUint16(26, entry.nameBytes.byteLength, true);
  v.setUint16(28, extraLength, true);
  out.set(entry.nameBytes, LOCAL_HEADER);
  if (zip64) {
    const at = LOCAL_HEADER + entry.nameBytes.byteLength;
    v.setUint16(at, ZIP64_EXTRA, true);
    v.setUint16(at + 2, 16, true);
    v.setBigUint64(at + 4, BigInt(entry.size), true);
    v.setBigUint64(at + 12, BigInt(entry.compressedSize), true);
  }
  return out;
}

function centralHeader(entry: Entry): Uint8Array {
  const big = [
    entry.size >= U32_MAX ? entry.size : undefined,
    entry.compressedSize >= U32_MAX ? entry.compressedSize : undefined,
    entry.headerOffset >= U32_MAX ? entry.headerOffset : undefined,
  ].filter((n): n is number => n !== undefined);
  const extraLength = big.length > 0 ? 4 + 8 * big.length : 0;
  const out = new Uint8Array(CENTRAL_HEADER + entry.nameBytes.byteLength + extraLength);
  const v = dataView(out);
  v.setUint32(0, SIG_CENTRAL, true);
  v.setUint16(4, VERSION_MADE_BY, true);
  v.setUint16(6, versionNeeded(entry, big.length > 0), true);
  v.setUint16(8, entry.flags, true);
  v.setUint16(10, entry.method, true);
  v.setUint16(12, entry.dosTime, true);
  v.setUint16(14, entry.dosDate, true);
  v.setUint32(16, entry.crc, true);
  v.setUint32(20, Math.min(entry.compressedSize, U32_MAX), true);
  v.setUint32(24, Math.min(entry.size, U32_MAX), true);
  v.setUint16(28, entry.nameBytes.byteLength, true);
  v.setUint16(30, extraLength, true);
  v.setUint32(38, FILE_MODE_ATTRS, true);
  v.setUint32(42, Math.min(entry.headerOffset, U32_MAX), true);
  out.set(entry.nameBytes, CENTRAL_HEADER);
  if (big.length > 0) {
    let at = CENTRAL_HEADER + entry.nameBytes.byteLength;
    v.setUint16(at, ZIP64_EXTRA, true);
    v.setUint16(at + 2, 8 * big.length, true);
    at += 4;
    for (const n of big) {
      v.setBigUint64(at, BigInt(n), true);
      at += 8;
    }
  }
  return out;
}

function zip64EndRecord(count: number, cdSize: number, cdOffset: number): Uint8Array {
  const out = new Uint8Array(ZIP64_EOCD_SIZE);
  const v = dataView(out);
  v.setUint32(0, SIG_ZIP64_EOCD, true);
  v.setBigUint64(4, BigInt(ZIP64_EOCD_SIZE - 12), true);
  v.setUint16(12, VERSION_MADE_BY, true);
  v.setUint16(14, VERSION_ZIP64, true);
  v.setBigUint64(24, BigInt(count), true);
  v.setBigUint64(32, BigInt(count), true);
  v.setBigUint64(40, BigInt(cdSize), true);
  v.setBigUint64(48, BigInt(cdOffset), true);
  return out;
}

function zip64Locator(zip64Offset: number): Uint8Array {
  const out = new Uint8Array(ZIP64_LOCATOR_SIZE);
  const v = dataView(out);
  v.setUint32(0, SIG_ZIP64_LOCATOR, true);
  v.setBigUint64(8, BigInt(zip64Offset), true);
  v.setUint32(16, 1, true);
  return out;
}

function endRecord(count: number, cdSize: number, cdOffset: number): Uint8Array {
  const out = new Uint8Array(EOCD_SIZE);
  const v = dataView(out);
  v.setUint32(0, SIG_EOCD, true);
  v.setUint16(8, Math.min(count, U16_MAX), true);
  v.setUint16(10, Math.min(count, U16_MAX), true);
  v.setUint32(12, Math.min(cdSize, U32_MAX), true);
  v.setUint32(16, Math.min(cdOffset, U32_MAX), true);
  return out;
}

function versionNeeded(entry: Entry, zip64: boolean): number {
  if (zip64) return VERSION_ZIP64;
  return entry.method === DEFLATED ? VERSION_DEFLATE : VERSION_STORED;
}

// ---- small helpers ------------------------------------------------------------------------

function dataView(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function etagOf(entry: Entry): string {
  // The header offset tells apart two entries of one name with equal content.
  return `"${entry.crc.toString(16)}-${entry.size.toString(36)}-${entry.headerOffset.toString(36)}"`;
}

function dosDateTime(date: Date): { time: number; date: number } {
  const year = Math.max(1980, date.getFullYear());
  return {
    time: (date.getHours() << 11) | (date.getMinutes() << 5) | (date.getSeconds() >> 1),
    date: ((year - 1980) << 9) | ((date.getMonth() + 1) << 5) | date.getDate(),
  };
}

function dosToDate(entry: Entry): Date {
  const d = entry.dosDate;
  const t = entry.dosTime;
  return new Date(
    (d >> 9) + 1980,
    ((d >> 5) & 0xf) - 1,
    d & 0x1f,
    t >> 11,
    (t >> 5) & 0x3f,
    (t & 0x1f) * 2,
  );
}

function ignore(): void {}

function readOnly(operation: string, key: string): StoreError {
  return new StoreError({
    code: "ReadOnly",
    message: `${BACKEND} is open for reading (mode "r"): cannot ${operation} ${key}`,
    operation,
    key,
    backend: BACKEND,
  });
}

function openError(error: unknown, path: string): StoreError {
  const code = (error as { code?: string } | null)?.code;
  if (code === "ENOENT") {
    return new StoreError({
      code: "NotFound",
      message: `${path} does not exist (open it with mode "w" to create an archive)`,
      operation: "open",
      backend: BACKEND,
      cause: error,
    });
  }
  return ioError(error, path, "open");
}

function ioError(error: unknown, path: string, operation: string, key?: string): StoreError {
  if (error instanceof StoreError) return error;
  const code = (error as { code?: string } | null)?.code;
  const detail = error instanceof Error ? error.message : String(error);
  return new StoreError({
    code: code === "EACCES" || code === "EPERM" ? "PermissionDenied" : "Unavailable",
    message: `${path}: ${operation}${key ? ` ${key}` : ""} failed: ${detail}`,
    operation,
    key,
    backend: BACKEND,
    retryable: false,
    cause: error,
  });
}

/** writev until every byte is written (writev may write less than asked). */
async function writeAll(
  file: fs.promises.FileHandle,
  parts: Uint8Array[],
  position: number,
): Promise<void> {
  let pending = parts.filter((p) => p.byteLength > 0);
  let at = position;
  while (pending.length > 0) {
    // Linux caps one writev at 1,024 buffers (IOV_MAX).
    const batch = pending.slice(0, 1024);
    const { bytesWritten } = await file.writev(batch, at);
    at += bytesWritten;
    let left = bytesWritten;
    const rest: Uint8Array[] = [];
    for (const part of pending) {
      if (left >= part.byteLength) left -= part.byteLength;
      else {
        rest.push(left > 0 ? part.subarray(left) : part);
        left = 0;
      }
    }
    pending = rest;
  }
}

function inflate(raw: Uint8Array, size: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    // maxOutputLength guards against an entry that inflates far beyond its declared size.
    zlib.inflateRaw(raw, { maxOutputLength: Math.max(size, 1) + 1 }, (error, out) =>
      error ? reject(error) : resolve(new Uint8Array(out.buffer, out.byteOffset, out.byteLength)),
    );
  });
}

function deflate(value: Uint8Array): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    zlib.deflateRaw(value, (error, out) =>
      error ? reject(error) : resolve(new Uint8Array(out.buffer, out.byteOffset, out.byteLength)),
    );
  });
}

// zlib.crc32 arrived in Node 20.15; older 20.x get a table-driven fallback.
const nativeCrc32 = (zlib as { crc32?: (data: Uint8Array) => number }).crc32;
const CRC_TABLE = nativeCrc32
  ? undefined
  : Int32Array.from({ length: 256 }, (_, n) => {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      return c;
    });

function crc32(data: Uint8Array): number {
  if (nativeCrc32) return nativeCrc32(data) >>> 0;
  const table = CRC_TABLE as Int32Array;
  let c = -1;
  for (const b of data) c = (table[(c ^ b) & 0xff] as number) ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}
