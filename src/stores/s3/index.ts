/**
 * `zarrstore/s3`: Zarr stores in S3 buckets and S3-compatible services (MinIO, Ceph, Swift's
 * s3api, Google Cloud Storage's XML API with HMAC keys). SigV4 over WebCrypto, no SDK: runs on
 * Node (through undici, see index.node.ts), in browsers and in fetch-based runtimes.
 */
import { StoreError } from "../../errors.js";
import type { OpenOptions } from "../../open.js";
import type { S3Transport } from "./client.js";
import { processEnv, type S3CredentialProvider, type S3Credentials } from "./credentials.js";
import { S3Store } from "./store.js";

export {
  CredentialSource,
  credentialProvider,
  parseIni,
  readProfile,
  type S3CredentialProvider,
  type S3Credentials,
} from "./credentials.js";
export { mapS3Error, parseS3Error } from "./errors.js";
export { md5Base64, md5Hex } from "./md5.js";
export { MIN_PART_SIZE } from "./multipart.js";
export { type PresignOptions, presign } from "./presign.js";
export {
  encodeRfc3986,
  encodeRfc3986Path,
  type SigningCredentials,
  SigV4Signer,
} from "./signing.js";
export { S3Store, type S3StoreOptions } from "./store.js";

/** Google Cloud Storage's S3-compatible XML API. */
export const GCS_XML_ENDPOINT = "https://storage.googleapis.com";

/** `s3://bucket/prefix` (or `gs://…`) → its bucket and prefix. */
export function parseBucketUrl(url: string): { scheme: string; bucket: string; prefix: string } {
  const match = /^(s3|gs):\/\/([^/?#]+)\/*([^?#]*)$/i.exec(url);
  if (!match) {
    throw new StoreError({
      code: "Config",
      message: `not a bucket URL: ${JSON.stringify(url)} (expected s3://bucket/prefix or gs://bucket/prefix)`,
      operation: "open",
      backend: "S3Store",
    });
  }
  return {
    scheme: (match[1] as string).toLowerCase(),
    bucket: decodeURIComponent(match[2] as string),
    prefix: decodeURIComponent((match[3] as string).replace(/\/+$/, "")),
  };
}

/**
 * Opens `s3://bucket/prefix` for `openStore`: endpoint, region and credentials from the options
 * (`endpoint`, `region`, `credentials`, `anonymous`, `forcePathStyle`, `profile`) or the
 * environment (`AWS_*`, `~/.aws`). Conditional-write support is probed for writable stores.
 */
export async function openS3Store(
  url: string,
  options: OpenOptions = {},
  Store: typeof S3Store = S3Store,
): Promise<S3Store> {
  const { scheme, bucket, prefix } = parseBucketUrl(url);
  if (scheme === "gs") return openGcsXmlStore(bucket, prefix, options, Store);
  return Store.open({
    bucket,
    prefix,
    endpoint: options.endpoint as string | undefined,
    region: options.region as string | undefined,
    credentials: options.credentials as S3Credentials | S3CredentialProvider | undefined,
    profile: options.profile as string | undefined,
    anonymous: options.anonymous as boolean | undefined,
    forcePathStyle: options.forcePathStyle as boolean | undefined,
    readOnly: options.readOnly,
    env: options.env,
    fetch: options.fetch,
    transport: options.transport as S3Transport | undefined,
  });
}

/**
 * `gs://bucket/prefix` through Google Cloud Storage's XML API, which speaks S3 with HMAC keys:
 * `credentials` from the options, else `GS_ACCESS_KEY_ID`/`GS_SECRET_ACCESS_KEY` (AWS keys are
 * never sent to Google), else anonymous (public buckets). Region `auto`, path style.
 */
async function openGcsXmlStore(
  bucket: string,
  prefix: string,
  options: OpenOptions,
  Store: typeof S3Store,
): Promise<S3Store> {
  const env = options.env ?? processEnv();
  const given = options.credentials as S3Credentials | S3CredentialProvider | undefined;
  const hmac =
    given ??
    (env.GS_ACCESS_KEY_ID && env.GS_SECRET_ACCESS_KEY
      ? { accessKeyId: env.GS_ACCESS_KEY_ID, secretAccessKey: env.GS_SECRET_ACCESS_KEY }
      : undefined);
  return new Store({
    bucket,
    prefix,
    endpoint: (options.endpoint as string | undefined) ?? GCS_XML_ENDPOINT,
    region: (options.region as string | undefined) ?? "auto",
    credentials: hmac,
    anonymous: hmac === undefined,
    forcePathStyle: true,
    readOnly: options.readOnly,
    // The environment is not consulted for AWS variables: they belong to another cloud.
    env: {},
    fetch: options.fetch,
    transport: options.transport as S3Transport | undefined,
  });
}
