/**
 * Presigned URLs: a browser (or `curl`) can GET, PUT, HEAD or DELETE one object with the URL
 * alone until it expires. SigV4 query signing, payload unsigned.
 */
import { toKey } from "../../keys.js";
import { s3Error } from "./errors.js";
import { S3_INTERNALS, type S3Store } from "./store.js";

/** Options for `presign`. */
export interface PresignOptions {
  /** The method the URL allows (default `GET`). */
  method?: "GET" | "HEAD" | "PUT" | "DELETE" | undefined;
  /** Seconds the URL works: 1 to 604,800 (7 days, SigV4's limit); default 3600. */
  expiresIn?: number | undefined;
  /** The signing time (default now). */
  date?: Date | undefined;
}

/**
 * Makes a presigned URL for one key of the store.
 *
 * @example
 * const url = await presign(store, "/data/zarr.json", { expiresIn: 600 });
 * const metadata = await (await fetch(url)).json();
 */
export async function presign(
  store: S3Store,
  key: string,
  options: PresignOptions = {},
): Promise<string> {
  const internals = store[S3_INTERNALS]();
  const path = toKey(key);
  const expiresIn = options.expiresIn ?? 3600;
  if (!Number.isSafeInteger(expiresIn) || expiresIn < 1 || expiresIn > 604_800) {
    throw s3Error("Config", "expiresIn must be 1…604800 seconds (SigV4's limit is 7 days)", {
      operation: "presign",
      key: path,
      bucket: internals.bucket,
    });
  }
  const client = await internals.client();
  return client.presign(
    options.method ?? "GET",
    internals.objectName(path),
    expiresIn,
    options.date,
  );
}
