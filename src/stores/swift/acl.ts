/**
 * Container read ACLs, as the seed's `is_public`/`toggle_public` use them, but exact: public
 * means `.r:*` (anyone may read objects) and `.rlistings` (and list them); making a container
 * private removes exactly those two entries and keeps every other one, so toggling twice
 * restores a custom ACL as it was.
 */
import type { CallOptions } from "../../store.js";
import { errorFrom, type SwiftCall } from "./client.js";
import { SWIFT_INTERNALS, type SwiftStore } from "./store.js";

/** The entries that make a container public. */
export const PUBLIC_READ_ENTRIES: readonly string[] = Object.freeze([".r:*", ".rlistings"]);

/** Splits an `X-Container-Read` value into its entries (commas, optional spaces). */
export function parseAcl(value: string | null | undefined): string[] {
  if (!value) return [];
  return value
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry !== "");
}

/** Tells whether an ACL lets anyone read objects (`.r:*`). */
export function aclIsPublic(entries: readonly string[]): boolean {
  return entries.includes(".r:*");
}

/** The ACL with `.r:*` and `.rlistings` added (public) or removed (private); all else kept in order. */
export function withPublic(entries: readonly string[], makePublic: boolean): string[] {
  if (!makePublic) return entries.filter((entry) => !PUBLIC_READ_ENTRIES.includes(entry));
  const added = PUBLIC_READ_ENTRIES.filter((entry) => !entries.includes(entry));
  return [...entries, ...added];
}

/** Reads the container's read ACL (`X-Container-Read`) as a list of entries. */
export async function getReadAcl(store: SwiftStore, options?: CallOptions): Promise<string[]> {
  const { client, container } = store[SWIFT_INTERNALS]();
  const call: SwiftCall = {
    method: "HEAD",
    container,
    signal: options?.signal,
    operation: "getAcl",
  };
  const response = await client.send(call);
  if (response.status !== 204 && response.status !== 200) {
    throw await errorFrom(
      response,
      call,
      response.status === 404 ? "the container does not exist" : undefined,
    );
  }
  await response.discard();
  return parseAcl(response.header("x-container-read"));
}

/** Replaces the container's read ACL; an empty list removes it. */
export async function setReadAcl(
  store: SwiftStore,
  entries: readonly string[],
  options?: CallOptions,
): Promise<void> {
  const { client, container } = store[SWIFT_INTERNALS]();
  const headers: Record<string, string> =
    entries.length > 0
      ? { "X-Container-Read": entries.join(",") }
      : { "X-Remove-Container-Read": "x" };
  const call: SwiftCall = {
    method: "POST",
    container,
    headers,
    signal: options?.signal,
    operation: "setAcl",
  };
  const response = await client.send(call);
  if (response.status !== 204 && response.status !== 202 && response.status !== 200) {
    throw await errorFrom(
      response,
      call,
      response.status === 403
        ? "only the account's admins may change a container's ACL"
        : response.status === 404
          ? "the container does not exist; write to the store first"
          : undefined,
    );
  }
  await response.discard();
}

/** Tells whether anyone may read the store's container without a token. */
export async function isPublic(store: SwiftStore, options?: CallOptions): Promise<boolean> {
  return aclIsPublic(await getReadAcl(store, options));
}

/**
 * Makes the store's container public (adds `.r:*` and `.rlistings` where absent) or private
 * (removes exactly those); other ACL entries stay. Idempotent.
 */
export async function setPublic(
  store: SwiftStore,
  makePublic: boolean,
  options?: CallOptions,
): Promise<void> {
  const current = await getReadAcl(store, options);
  const next = withPublic(current, makePublic);
  if (next.join(",") === current.join(",")) return;
  await setReadAcl(store, next, options);
}

/** Flips the container between public and private and returns the new state. */
export async function togglePublic(store: SwiftStore, options?: CallOptions): Promise<boolean> {
  const current = await getReadAcl(store, options);
  const makePublic = !aclIsPublic(current);
  await setReadAcl(store, withPublic(current, makePublic), options);
  return makePublic;
}
