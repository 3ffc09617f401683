import { StoreError } from "./errors.js";
import type { Store } from "./store.js";
import { MemoryStore } from "./stores/memory.js";

/** Options `openStore` passes to the backend its URL names. Each backend reads the ones it knows. */
export interface OpenOptions {
  /** Open for reading only. */
  readOnly?: boolean;
  /** `r` to read, `w` to create (zip, car); default `r` for archives. */
  mode?: "r" | "w";
  /** Extra HTTP headers for HTTP-based stores. */
  headers?: Record<string, string>;
  /** A `fetch` to use instead of the global one. */
  fetch?: typeof globalThis.fetch;
  /** The environment to read credentials from (defaults to `process.env` where there is one). */
  env?: Record<string, string | undefined>;
  /** Backend-specific options (credentials, endpoints…), passed through as they are. */
  [option: string]: unknown;
}

/** Opens a store for a URL; one entry of the scheme table. */
export type StoreOpener = (url: string, options: OpenOptions) => Promise<Store>;

/** Scheme → opener. Openers import their backend lazily so unused backends cost nothing. */
export type SchemeTable = Readonly<Record<string, StoreOpener>>;

/** The schemes every runtime has (fetch-based backends only). */
export const BASE_SCHEMES: SchemeTable = {
  memory: async () => new MemoryStore(),
  http: openHttp,
  https: openHttp,
  swift: openSwift,
  s3: openBucket,
  gs: openGs,
  az: openAzure,
  abfs: openAzure,
  abfss: openAzure,
  ipfs: openIpfs,
  reference: (url, options) => openReference(url, options, openStore),
  icechunk: async (url, options) => {
    const { openIcechunkStore } = await import("./stores/icechunk/index.js");
    return openIcechunkStore(url, options, openStore);
  },
};

/** IPLDStore for `ipfs://<cid>[/folder]`, read-only, blocks from a gateway or the Kubo API. */
async function openIpfs(url: string, options: OpenOptions): Promise<Store> {
  const { openIpfsStore } = await import("./stores/ipld/open.js");
  return openIpfsStore(url, options);
}

/** ReferenceStore for `reference://<path or URL of the JSON>`, targets read through `open`. */
export async function openReference(
  url: string,
  options: OpenOptions,
  open: (url: string, options?: OpenOptions) => Promise<Store>,
): Promise<Store> {
  const { openReferenceStore } = await import("./stores/reference.js");
  const { readOnly: _, mode: __, ...rest } = options;
  return openReferenceStore(url, (target) => open(target, { ...rest, readOnly: true }));
}

/** S3Store for `s3://bucket/prefix`, and for `gs://bucket/prefix` through GCS's S3-compatible XML API. */
async function openBucket(url: string, options: OpenOptions): Promise<Store> {
  const { openS3Store } = await import("./stores/s3/index.js");
  return openS3Store(url, options);
}

/**
 * `gs://bucket/prefix`: GcsStore over the JSON API when a token, a token provider, anonymous
 * mode or GOOGLE_OAUTH_ACCESS_TOKEN is there; otherwise S3Store over the XML API (HMAC keys).
 */
async function openGs(url: string, options: OpenOptions): Promise<Store> {
  const { openGcsStore, wantsGcsJsonApi } = await import("./stores/gcs/index.js");
  return wantsGcsJsonApi(options) ? openGcsStore(url, options) : openBucket(url, options);
}

/** AzureBlobStore for `az://container/prefix` and `abfs[s]://container@account.dfs.core.windows.net/prefix`. */
async function openAzure(url: string, options: OpenOptions): Promise<Store> {
  const { openAzureStore } = await import("./stores/azure/index.js");
  return openAzureStore(url, options);
}

/** SwiftStore for `swift://container/prefix`, credentials from the options or the environment. */
async function openSwift(url: string, options: OpenOptions): Promise<Store> {
  const { openSwiftStore } = await import("./stores/swift/index.js");
  return openSwiftStore(url, options);
}

/** HttpStore over `fetch`: read-only unless the options ask for writes. */
async function openHttp(url: string, options: OpenOptions): Promise<Store> {
  const { HttpStore, httpOptionsFrom } = await import("./stores/http.js");
  return new HttpStore(url, httpOptionsFrom(options));
}

const SCHEME = /^([a-z][a-z0-9+.-]*):\/\//i;

/**
 * Finds the table entry for a URL: its scheme (`s3://…`), then the part before `+` for compound
 * schemes (`icechunk+file://…` → `icechunk`), then the file extension for plain paths
 * (`*.zip` → `zip`, `*.car` → `car`), then `file` for any other path.
 */
export function schemeOf(url: string): string {
  const match = SCHEME.exec(url);
  if (match) return (match[1] as string).toLowerCase();
  const path = url.replace(/\/+$/, "").toLowerCase();
  if (path.endsWith(".zip")) return "zip";
  if (path.endsWith(".car")) return "car";
  return "file";
}

/** Makes an `openStore` over a scheme table. */
export function createOpenStore(
  table: SchemeTable,
): (url: string, options?: OpenOptions) => Promise<Store> {
  return async (url, options = {}) => {
    const scheme = schemeOf(url);
    const opener = table[scheme] ?? table[scheme.split("+")[0] as string];
    if (opener === undefined) {
      const known = Object.keys(table).sort().join(", ");
      throw new StoreError({
        code: "Config",
        message: `no store for ${scheme}:// URLs here (known: ${known})`,
        operation: "open",
      });
    }
    return opener(url, options);
  };
}

/**
 * Opens the store a URL names, loading its backend on demand.
 *
 * @example
 * const store = await openStore("https://example.org/data.zarr");
 */
export const openStore = createOpenStore(BASE_SCHEMES);
