import { StoreError, throwIfAborted } from "../../errors.js";
import { type AbsolutePath, type Prefix, toKey, toPrefix } from "../../keys.js";
import { inParallel } from "../../lanes.js";
import { checkRange, rangeHeader, sliceRange } from "../../ranges.js";
import type {
  CallOptions,
  Capabilities,
  ListDirResult,
  RangeQuery,
  SetOptions,
  SetResult,
  StatResult,
  Store,
} from "../../store.js";
import { type FetchLike, fetchTransport, type HttpResponse } from "../http-transport.js";
import {
  ObjectNames,
  objectNamesOf,
  rangeBySize,
  statFromHeaders,
  unquote,
} from "../object-store.js";
import { bufferResponse, readS3Body, type S3Call, S3Client, type S3Transport } from "./client.js";
import {
  CredentialSource,
  credentialProvider,
  processEnv,
  readProfile,
  type S3CredentialProvider,
  type S3Credentials,
} from "./credentials.js";
import { BACKEND, escapeXml, parseS3Error, s3Error, xmlBlocks, xmlText } from "./errors.js";
import { listObjects, type S3ListEntry } from "./list.js";
import { md5Base64 } from "./md5.js";
import { MIN_PART_SIZE, putMultipart } from "./multipart.js";

type Env = Record<string, string | undefined>;

/** Options for `S3Store`. */
export interface S3StoreOptions {
  bucket: string;
  /** A folder in the bucket: with `zarr-demo`, the key `/foo/.zgroup` is the object `zarr-demo/foo/.zgroup`. */
  prefix?: string | undefined;
  /**
   * The service URL, e.g. `http://127.0.0.1:9000` or `https://storage.googleapis.com`; by default
   * `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`, the profile's `endpoint_url`, else AWS in the region.
   */
  endpoint?: string | undefined;
  /** By default `AWS_REGION`, `AWS_DEFAULT_REGION`, the profile's region, else `us-east-1`. */
  region?: string | undefined;
  /** Credentials, or a function returning fresh ones; by default the environment, then `~/.aws`. */
  credentials?: S3Credentials | S3CredentialProvider | undefined;
  /** The shared-file profile to read (default `AWS_PROFILE`, else `default`). */
  profile?: string | undefined;
  /** Send requests unsigned (public buckets). */
  anonymous?: boolean | undefined;
  /**
   * Address the bucket in the path (`endpoint/bucket/key`) rather than the host
   * (`bucket.endpoint/key`). Default: path style for a custom endpoint or a bucket name with
   * dots, virtual-host style on AWS.
   */
  forcePathStyle?: boolean | undefined;
  /** Reject writes. */
  readOnly?: boolean | undefined;
  /** Values larger than this go up as multipart uploads (default 16 MiB). */
  multipartThreshold?: number | undefined;
  /** Part size for multipart uploads (default 8 MiB; at least 5 MiB). */
  partSize?: number | undefined;
  /** Sign the body's SHA-256 (default for `http:` endpoints) or send `UNSIGNED-PAYLOAD` (default for `https:`, where TLS guards the body). */
  signPayload?: boolean | undefined;
  /**
   * Whether the server honours `If-None-Match`/`If-Match` on writes: `"probe"` (default) asks it
   * on first need (or in `S3Store.open`), `true`/`false` skip the probe.
   */
  conditionalWrites?: "probe" | boolean | undefined;
  /** The environment to read (default `process.env`). */
  env?: Env | undefined;
  /** A `fetch` to send requests with (default: the global one). */
  fetch?: FetchLike | undefined;
  /**
   * The transport to send requests through; wins over `fetch`. The Node entry
   * (`zarrstore/s3` under the `node` condition) passes undici's. A transport passed here is the
   * caller's to close.
   */
  transport?: S3Transport | undefined;
}

/** What the presign helper needs; not part of the public surface. */
export interface S3Internals {
  client(): Promise<S3Client>;
  objectName(key: AbsolutePath): string;
  bucket: string;
}

/** The symbol under which an S3Store hands its internals to the helpers of this folder. */
export const S3_INTERNALS: unique symbol = Symbol("zarrstore.s3.internals");

// 16 MiB: one PUT is cheapest below this; above it parts upload in parallel and a failure
// costs one part, not the value.
const DEFAULT_MULTIPART_THRESHOLD = 16 * 1024 * 1024;
// 8 MiB: the AWS CLI's part size; well above S3's 5 MiB minimum.
const DEFAULT_PART_SIZE = 8 * 1024 * 1024;
// S3's DeleteObjects takes at most 1,000 keys per request.
const DELETE_BATCH = 1000;
const DELETE_CONCURRENCY = 32;

interface ConditionalSupport {
  ifNoneMatch: boolean;
  ifMatch: boolean;
}

/**
 * A Zarr store in an S3 bucket (AWS, or any S3-compatible service: MinIO, Ceph, Swift's s3api,
 * Google Cloud Storage's XML API with HMAC keys). SigV4 over `fetch`, no SDK.
 *
 * @example
 * const store = await S3Store.open({ bucket: "my-bucket", prefix: "data.zarr", region: "eu-west-1" });
 * const arr = await zarr.open(store, { kind: "array" });
 */
export class S3Store implements Store {
  /** The bucket name. */
  readonly bucket: string;
  /** The folder in the bucket, or `""`. */
  readonly prefix: string;
  readonly #options: S3StoreOptions;
  readonly #objectPrefix: string;
  readonly #names: ObjectNames;
  readonly #readOnly: boolean;
  readonly #threshold: number;
  readonly #partSize: number;
  #client: Promise<S3Client> | undefined;
  readonly #transport: S3Transport;
  readonly #ownsTransport: boolean;
  #conditional: ConditionalSupport | undefined;
  #probing: Promise<ConditionalSupport> | undefined;
  #capabilities: Capabilities;
  // Once the bucket is known to exist, a 404 on HEAD means "no such key" without asking again.
  #bucketSeen = false;
  #batchDelete: boolean | undefined;

  /**
   * @param defaultTransport makes the transport when the options name neither `transport` nor
   * `fetch` (the Node entry passes undici's); the store owns and closes it.
   */
  constructor(options: S3StoreOptions, defaultTransport?: () => S3Transport) {
    this.#options = checkOptions(options);
    const custom = options.transport !== undefined || options.fetch !== undefined;
    this.#transport =
      options.transport ??
      (custom || defaultTransport === undefined
        ? fetchTransport(options.fetch)
        : defaultTransport());
    this.#ownsTransport = options.transport === undefined;
    this.bucket = options.bucket;
    this.prefix = normalisePrefix(options.prefix);
    this.#objectPrefix = this.prefix ? `${this.prefix}/` : "";
    this.#names = new ObjectNames(this.#objectPrefix);
    this.#readOnly = options.readOnly ?? false;
    this.#threshold = options.multipartThreshold ?? DEFAULT_MULTIPART_THRESHOLD;
    this.#partSize = Math.max(options.partSize ?? DEFAULT_PART_SIZE, MIN_PART_SIZE);
    const mode = options.conditionalWrites ?? "probe";
    if (typeof mode === "boolean") this.#conditional = { ifNoneMatch: mode, ifMatch: mode };
    this.#capabilities = this.#makeCapabilities();
  }

  /**
   * Makes a store and resolves its configuration (credentials, region, endpoint) and, for a
   * writable store, probes whether the server honours conditional writes, so that
   * `capabilities` are exact from the start.
   */
  static async open(options: S3StoreOptions): Promise<S3Store> {
    // `this`: the class `open` was called on (the Node entry's subclass sends through undici).
    const store = new this(options);
    await store.#getClient();
    if (!store.#readOnly) await store.#conditionalSupport();
    return store;
  }

  /** What the store can do; `conditionalWrite` is true once a probe showed the server honours both conditions. */
  get capabilities(): Capabilities {
    return this.#capabilities;
  }

  async get(key: AbsolutePath, options?: CallOptions): Promise<Uint8Array | undefined> {
    const path = toKey(key);
    throwIfAborted(options?.signal, "get", path);
    const call = this.#objectCall("GET", path, "get", options?.signal);
    const client = await this.#getClient();
    const response = await client.send(call);
    if (response.status === 404) return this.#missing(client, response, call);
    if (response.status !== 200) throw await client.error(response, call);
    this.#bucketSeen = true;
    return readS3Body(response, call, this.bucket);
  }

  async getRange(
    key: AbsolutePath,
    range: RangeQuery,
    options?: CallOptions,
  ): Promise<Uint8Array | undefined> {
    const path = toKey(key);
    checkRange(range, path);
    throwIfAborted(options?.signal, "getRange", path);
    if (
      ("length" in range && range.length === 0) ||
      ("suffixLength" in range && range.suffixLength === 0)
    ) {
      return rangeBySize(this, path, range, options);
    }
    const call = this.#objectCall("GET", path, "getRange", options?.signal, {
      Range: rangeHeader(range),
    });
    const client = await this.#getClient();
    const response = await client.send(call);
    if (response.status === 404) return this.#missing(client, response, call);
    if (response.status === 416) {
      await response.discard();
      return rangeBySize(this, path, range, options);
    }
    if (response.status === 200) {
      return sliceRange(await readS3Body(response, call, this.bucket), range, path);
    }
    if (response.status !== 206) throw await client.error(response, call);
    this.#bucketSeen = true;
    return readS3Body(response, call, this.bucket);
  }

  async stat(key: AbsolutePath, options?: CallOptions): Promise<StatResult | undefined> {
    const path = toKey(key);
    throwIfAborted(options?.signal, "stat", path);
    const call = this.#objectCall("HEAD", path, "stat", options?.signal);
    const client = await this.#getClient();
    const response = await client.send(call);
    await response.discard();
    if (response.status === 404 && this.#bucketSeen) return undefined;
    if (response.status !== 200) {
      // HEAD replies have no body to say why: ask again with a one-byte GET, whose reply does.
      return this.#explainHead(client, path, options);
    }
    this.#bucketSeen = true;
    return statFromHeaders(response);
  }

  async set(key: AbsolutePath, value: Uint8Array, options?: SetOptions): Promise<void> {
    await this.put(key, value, options);
  }

  async put(key: AbsolutePath, value: Uint8Array, options?: SetOptions): Promise<SetResult> {
    const path = toKey(key);
    this.#assertWritable("set", path);
    throwIfAborted(options?.signal, "set", path);
    if (!(value instanceof Uint8Array)) {
      throw s3Error("Config", "values must be Uint8Array", this.#ctx("set", path));
    }
    const conditions = await this.#conditionHeaders(path, options);
    const client = await this.#getClient();
    if (value.byteLength > this.#threshold) {
      const result = await putMultipart(
        client,
        {
          object: this.#objectName(path),
          key: path,
          partSize: this.#partSize,
          headers: { "Content-Type": "application/octet-stream" },
          completeHeaders: conditions,
          signal: options?.signal,
        },
        value,
      );
      this.#bucketSeen = true;
      return result;
    }
    const call = this.#objectCall("PUT", path, "set", options?.signal, {
      "Content-Type": "application/octet-stream",
      ...conditions,
    });
    call.body = value;
    const response = await client.send(call);
    if (response.status !== 200) throw await client.error(response, call);
    await response.discard();
    this.#bucketSeen = true;
    return { etag: unquote(response.header("etag")) };
  }

  async delete(key: AbsolutePath, options?: CallOptions): Promise<void> {
    const path = toKey(key);
    this.#assertWritable("delete", path);
    throwIfAborted(options?.signal, "delete", path);
    await this.#deleteOne(this.#objectName(path), path, options?.signal);
  }

  async deletePrefix(prefix: string, options?: CallOptions): Promise<void> {
    const folder = toPrefix(prefix);
    this.#assertWritable("deletePrefix", folder);
    throwIfAborted(options?.signal, "deletePrefix", folder);
    const names = await objectNamesOf(
      this.#entries(folder, undefined, "deletePrefix", options?.signal),
    );
    for (let i = 0; i < names.length; i += DELETE_BATCH) {
      const batch = names.slice(i, i + DELETE_BATCH);
      if (
        this.#batchDelete !== false &&
        (await this.#deleteBatch(batch, folder, options?.signal))
      ) {
        continue;
      }
      await inParallel(batch, DELETE_CONCURRENCY, (name) =>
        this.#deleteOne(name, folder, options?.signal),
      );
    }
  }

  async *list(prefix?: string, options?: CallOptions): AsyncIterable<AbsolutePath> {
    const folder = toPrefix(prefix);
    yield* this.#names.keys(this.#entries(folder, undefined, "list", options?.signal));
  }

  async listDir(prefix?: string, options?: CallOptions): Promise<ListDirResult> {
    return this.#names.dir(this.#entries(toPrefix(prefix), "/", "listDir", options?.signal));
  }

  /** Releases the store's own transport (sockets); a transport passed in stays open. */
  async close(): Promise<void> {
    if (this.#ownsTransport) await this.#transport.close();
  }

  /** A description without credentials, for logs. */
  toJSON(): Record<string, unknown> {
    return {
      backend: BACKEND,
      bucket: this.bucket,
      prefix: this.prefix,
      endpoint: this.#options.endpoint,
      region: this.#options.region,
      readOnly: this.#readOnly,
      anonymous: this.#options.anonymous ?? false,
    };
  }

  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return `S3Store ${JSON.stringify(this.toJSON())}`;
  }

  /** Hands the presign helper what it needs. */
  [S3_INTERNALS](): S3Internals {
    return {
      client: () => this.#getClient(),
      objectName: (key) => this.#objectName(toKey(key)),
      bucket: this.bucket,
    };
  }

  #makeCapabilities(): Capabilities {
    const write = !this.#readOnly;
    const conditional = this.#conditional;
    return Object.freeze({
      write,
      overwrite: write,
      delete: write,
      list: true,
      getRange: true,
      suffixRange: true,
      conditionalWrite: write && conditional?.ifNoneMatch === true && conditional.ifMatch,
      // S3 PUTs and multipart completions replace a value whole.
      atomicWrite: true,
      etag: true,
    });
  }

  #getClient(): Promise<S3Client> {
    this.#client ??= resolveClient(this.#options, this.#transport).catch((error) => {
      this.#client = undefined;
      throw error;
    });
    return this.#client;
  }

  #objectName(key: AbsolutePath): string {
    return this.#names.nameOf(key);
  }

  #objectCall(
    method: S3Call["method"],
    key: AbsolutePath,
    operation: string,
    signal: AbortSignal | undefined,
    headers?: Record<string, string>,
  ): S3Call {
    return { method, object: this.#objectName(key), headers, signal, operation, key };
  }

  #ctx(operation: string, key?: string) {
    return { operation, key, bucket: this.bucket };
  }

  /** A 404 with a body: `NoSuchKey` is a missing key, anything else (`NoSuchBucket`) an error. */
  async #missing(client: S3Client, response: HttpResponse, call: S3Call): Promise<undefined> {
    const buffered = await bufferResponse(response, call, this.bucket);
    const code = parseS3Error(new TextDecoder().decode(await buffered.read())).code;
    if (code === "NoSuchKey") {
      // Only an existing bucket says NoSuchKey: later bodiless 404s need no second look.
      this.#bucketSeen = true;
      return undefined;
    }
    if (code === undefined && this.#bucketSeen) return undefined;
    throw await client.error(buffered, call);
  }

  async #explainHead(
    client: S3Client,
    key: AbsolutePath,
    options?: CallOptions,
  ): Promise<StatResult | undefined> {
    const call = this.#objectCall("GET", key, "stat", options?.signal, { Range: "bytes=0-0" });
    const response = await client.send(call);
    if (response.status === 404) return this.#missing(client, response, call);
    if (response.status === 200 || response.status === 206 || response.status === 416) {
      // It exists after all (e.g. written between the two requests): ask HEAD once more.
      await response.discard();
      this.#bucketSeen = true;
      return this.stat(key, options);
    }
    throw await client.error(response, call);
  }

  async #conditionHeaders(
    key: AbsolutePath,
    options?: SetOptions,
  ): Promise<Record<string, string>> {
    const headers: Record<string, string> = {};
    if (options?.ifNoneMatch === undefined && options?.ifMatch === undefined) return headers;
    const support = await this.#conditionalSupport();
    if (options.ifNoneMatch !== undefined) {
      if (options.ifNoneMatch !== "*") {
        throw s3Error("Config", "ifNoneMatch accepts only '*'", this.#ctx("set", key));
      }
      if (!support.ifNoneMatch) throw this.#conditionUnsupported("If-None-Match", key);
      headers["If-None-Match"] = "*";
    }
    if (options.ifMatch !== undefined) {
      if (!support.ifMatch) throw this.#conditionUnsupported("If-Match", key);
      headers["If-Match"] = quote(options.ifMatch);
    }
    return headers;
  }

  #conditionUnsupported(header: string, key: string): StoreError {
    return s3Error(
      "Unsupported",
      `the server does not honour ${header} on writes (probed), so the condition cannot be kept; write without it or use a server that supports conditional writes`,
      this.#ctx("set", key),
    );
  }

  /** Whether the server honours each condition: given in the options, else probed once. */
  #conditionalSupport(): Promise<ConditionalSupport> {
    if (this.#conditional !== undefined) return Promise.resolve(this.#conditional);
    this.#probing ??= this.#probeConditional()
      .then((support) => {
        this.#conditional = support;
        this.#capabilities = this.#makeCapabilities();
        return support;
      })
      .finally(() => {
        this.#probing = undefined;
      });
    return this.#probing;
  }

  /**
   * Writes a probe object with each condition and watches the answers: 412 means honoured,
   * success twice means ignored, 501/NotImplemented means refused. The probe is deleted.
   */
  async #probeConditional(): Promise<ConditionalSupport> {
    const client = await this.#getClient();
    const probe = `${this.#objectPrefix}.zarrstore-probe-${randomHex(8)}`;
    const put = async (headers: Record<string, string>) => {
      const call: S3Call = {
        method: "PUT",
        object: probe,
        headers,
        body: new Uint8Array(1),
        operation: "probe",
      };
      const response = await client.send(call);
      if (response.status === 200 || response.status === 412 || response.status === 404) {
        await response.discard();
        return response.status;
      }
      const error = await client.error(response, call);
      if (
        error instanceof StoreError &&
        (error.code === "Unsupported" || error.code === "PermissionDenied")
      ) {
        return 501;
      }
      throw error;
    };
    try {
      const first = await put({ "If-None-Match": "*" });
      const ifNoneMatch = first === 200 && (await put({ "If-None-Match": "*" })) === 412;
      const wrong = await put({ "If-Match": '"00000000000000000000000000000000"' });
      const ifMatch = wrong === 412 || (wrong === 404 && first !== 200);
      return { ifNoneMatch, ifMatch };
    } finally {
      await this.#deleteOne(probe, "probe").catch(() => {});
    }
  }

  async *#entries(
    folder: Prefix,
    delimiter: string | undefined,
    operation: string,
    signal: AbortSignal | undefined,
  ): AsyncGenerator<S3ListEntry> {
    const client = await this.#getClient();
    yield* listObjects(client, {
      prefix: this.#objectPrefix + folder.slice(1),
      delimiter,
      signal,
      operation,
      key: folder,
    });
    this.#bucketSeen = true;
  }

  async #deleteOne(name: string, key: string, signal?: AbortSignal): Promise<void> {
    const client = await this.#getClient();
    const call: S3Call = { method: "DELETE", object: name, signal, operation: "delete", key };
    const response = await client.send(call);
    if (response.status === 204 || response.status === 200) {
      await response.discard();
      return;
    }
    if (response.status === 404) {
      // A missing key is fine; a missing bucket is not.
      await this.#missing(client, response, call);
      return;
    }
    throw await client.error(response, call);
  }

  /** DeleteObjects for up to 1,000 names; false when the server does not offer it. */
  async #deleteBatch(names: string[], key: string, signal?: AbortSignal): Promise<boolean> {
    const client = await this.#getClient();
    const objects = names.map((n) => `<Object><Key>${escapeXml(n)}</Key></Object>`).join("");
    const body = new TextEncoder().encode(`<Delete><Quiet>true</Quiet>${objects}</Delete>`);
    const call: S3Call = {
      method: "POST",
      query: [["delete", ""]],
      headers: { "Content-Type": "application/xml", "Content-MD5": md5Base64(body) },
      body,
      signal,
      operation: "deletePrefix",
      key,
    };
    const response = await client.send(call);
    if (response.status === 501) {
      await response.discard();
      this.#batchDelete = false;
      return false;
    }
    if (response.status !== 200) throw await client.error(response, call);
    this.#batchDelete = true;
    const xml = new TextDecoder().decode(await readS3Body(response, call, this.bucket));
    const failures = xmlBlocks(xml, "Error").filter((e) => xmlText(e, "Code") !== "NoSuchKey");
    if (failures.length > 0) {
      const first = failures[0] as string;
      throw s3Error(
        xmlText(first, "Code") === "AccessDenied" ? "PermissionDenied" : "Unavailable",
        `${failures.length} object(s) could not be deleted, e.g. '${xmlText(first, "Key")}': ${xmlText(first, "Code")} ${xmlText(first, "Message") ?? ""}`,
        this.#ctx("deletePrefix", key),
        { retryable: xmlText(first, "Code") !== "AccessDenied" },
      );
    }
    return true;
  }

  #assertWritable(operation: string, key: string): void {
    if (this.#readOnly)
      throw s3Error("ReadOnly", "the store is read-only", this.#ctx(operation, key));
  }
}

/** Resolves credentials, region and endpoint (options, environment, shared files) into a client. */
async function resolveClient(options: S3StoreOptions, transport: S3Transport): Promise<S3Client> {
  const env = options.env ?? processEnv();
  const profileName = options.profile ?? env.AWS_PROFILE ?? "default";
  const needsProfile = !options.region || !options.endpoint;
  const profile = needsProfile ? await readProfile(profileName, env) : undefined;
  const region =
    options.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? profile?.region ?? "us-east-1";
  const configured =
    options.endpoint ?? env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL ?? profile?.endpointUrl;
  let endpoint: URL;
  try {
    endpoint = new URL(configured ?? `https://s3.${region}.amazonaws.com`);
  } catch (cause) {
    throw new StoreError({
      code: "Config",
      message: `${BACKEND}: endpoint ${JSON.stringify(configured)} is not a URL (e.g. http://127.0.0.1:9000)`,
      operation: "open",
      backend: BACKEND,
      cause,
    });
  }
  let source: CredentialSource | undefined;
  if (!options.anonymous) {
    const provider = await credentialProvider({
      credentials: options.credentials,
      env,
      profile: options.profile,
    });
    if (provider === undefined) {
      throw new StoreError({
        code: "Config",
        message: `${BACKEND}: no credentials for bucket '${options.bucket}'; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, configure ~/.aws/credentials (AWS_PROFILE), pass credentials, or pass anonymous: true for a public bucket`,
        operation: "open",
        backend: BACKEND,
      });
    }
    source = new CredentialSource(provider);
  }
  return new S3Client({
    bucket: options.bucket,
    endpoint,
    region,
    pathStyle: options.forcePathStyle ?? (configured !== undefined || options.bucket.includes(".")),
    credentials: source,
    signPayload: options.signPayload ?? endpoint.protocol === "http:",
    transport,
  });
}

function quote(etag: string): string {
  return etag.startsWith('"') || etag.startsWith("W/") ? etag : `"${etag}"`;
}

function randomHex(bytes: number): string {
  const out = new Uint8Array(bytes);
  crypto.getRandomValues(out);
  return Array.from(out, (b) => b.toString(16).padStart(2, "0")).join("");
}

function normalisePrefix(prefix: string | undefined): string {
  if (prefix === undefined || prefix === "" || prefix === "/") return "";
  return toPrefix(prefix).slice(1, -1);
}

function checkOptions(options: S3StoreOptions): S3StoreOptions {
  const fail = (why: string) =>
    new StoreError({
      code: "Config",
      message: `${BACKEND}: ${why}`,
      operation: "open",
      backend: BACKEND,
    });
  if (options === null || typeof options !== "object") throw fail("options are required");
  if (
    typeof options.bucket !== "string" ||
    !/^[a-zA-Z0-9][a-zA-Z0-9._-]{0,254}$/.test(options.bucket)
  ) {
    throw fail(
      `bucket must be a bucket name (letters, digits, '.', '-', '_'), got ${JSON.stringify(options.bucket)}`,
    );
  }
  for (const name of ["multipartThreshold", "partSize"] as const) {
    const value = options[name];
    if (value !== undefined && (!Number.isSafeInteger(value) || value < 1)) {
      throw fail(`${name} must be a whole number of bytes ≥ 1`);
    }
  }
  return options;
}
