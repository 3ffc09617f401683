/**
 * Static large objects: a value above the threshold is written as segments in a companion
 * container (`<container>_segments`, as the `swift` CLI does, so the store's own listings never
 * see them) and a manifest at its key, written last, so readers see the old value or the new
 * one, never part of it. Swift serves the manifest as one object (ranges included).
 */
import type { SetOptions } from "../../store.js";
import { errorFrom, type SwiftCall, type SwiftClient } from "./client.js";
import { swiftError } from "./errors.js";

/** Swift's single-object limit (its `max_file_size`): 5 GiB + 2 bytes. */
export const SWIFT_MAX_OBJECT_SIZE = 5 * 1024 ** 3 + 2;
/** Swift's default cap on segments per manifest (`max_manifest_segments`). */
export const SWIFT_MAX_SEGMENTS = 1000;
// 4: segments are large; a few in flight fill the link without holding many buffers' worth of sockets.
const SEGMENT_CONCURRENCY = 4;

/** Where and how a large value is written. */
export interface LargeObjectPlan {
  container: string;
  segmentContainer: string;
  object: string;
  key: string;
  segmentSize: number;
  headers: Record<string, string>;
  options?: SetOptions | undefined;
  /** Creates a missing container (the store's or the segments'), then the write is retried. */
  ensureContainer: (container: string, signal?: AbortSignal) => Promise<void>;
}

interface Segment {
  path: string;
  etag: string;
  size_bytes: number;
}

/** Writes `value` as segments plus a manifest; on failure removes the segments it wrote. */
export async function putLargeObject(
  client: SwiftClient,
  plan: LargeObjectPlan,
  value: Uint8Array,
): Promise<{ etag?: string | undefined }> {
  const signal = plan.options?.signal;
  // Never more than Swift's segment cap, whatever segment size was asked for.
  const size = Math.max(plan.segmentSize, Math.ceil(value.byteLength / SWIFT_MAX_SEGMENTS), 1);
  const count = Math.max(1, Math.ceil(value.byteLength / size));
  const upload = `${Date.now().toString(36)}-${randomHex(6)}`;
  const names = Array.from(
    { length: count },
    (_, i) =>
      `${plan.object}/slo/${upload}/${value.byteLength}/${size}/${String(i).padStart(8, "0")}`,
  );
  const segments: Segment[] = new Array(count);
  const written: string[] = [];
  try {
    let next = 0;
    const lanes = Array.from({ length: Math.min(SEGMENT_CONCURRENCY, count) }, async () => {
      while (next < count) {
        const i = next++;
        const part = value.subarray(i * size, Math.min(value.byteLength, (i + 1) * size));
        const name = names[i] as string;
        const etag = await putSegment(client, plan, name, part, signal);
        written.push(name);
        segments[i] = {
          path: `/${plan.segmentContainer}/${name}`,
          etag,
          size_bytes: part.byteLength,
        };
      }
    });
    await Promise.all(lanes);
    return await putManifest(client, plan, segments);
  } catch (error) {
    await removeSegments(client, plan.segmentContainer, written);
    throw error;
  }
}

async function putSegment(
  client: SwiftClient,
  plan: LargeObjectPlan,
  name: string,
  part: Uint8Array,
  signal: AbortSignal | undefined,
): Promise<string> {
  const call: SwiftCall = {
    method: "PUT",
    container: plan.segmentContainer,
    object: name,
    headers: { "Content-Type": "application/octet-stream" },
    body: part,
    signal,
    operation: "set",
    key: plan.key,
  };
  let response = await client.send(call);
  if (response.status === 404) {
    await response.discard();
    await plan.ensureContainer(plan.segmentContainer, signal);
    response = await client.send(call);
  }
  if (response.status !== 201) throw await errorFrom(response, call);
  await response.discard();
  const etag = response.header("etag");
  if (!etag) {
    throw swiftError("Unexpected", `segment ${name} was stored without an ETag`, {
      operation: "set",
      key: plan.key,
      container: plan.segmentContainer,
    });
  }
  return etag.replace(/"/g, "");
}

async function putManifest(
  client: SwiftClient,
  plan: LargeObjectPlan,
  segments: Segment[],
): Promise<{ etag?: string | undefined }> {
  const headers: Record<string, string> = {
    ...plan.headers,
    "Content-Type": "application/octet-stream",
  };
  if (plan.options?.ifNoneMatch === "*") headers["If-None-Match"] = "*";
  const call: SwiftCall = {
    method: "PUT",
    container: plan.container,
    object: plan.object,
    query: { "multipart-manifest": "put" },
    headers,
    body: JSON.stringify(segments),
    signal: plan.options?.signal,
    operation: "set",
    key: plan.key,
  };
  let response = await client.send(call);
  if (response.status === 404) {
    await response.discard();
    await plan.ensureContainer(plan.container, plan.options?.signal);
    response = await client.send(call);
  }
  if (response.status !== 201) throw await errorFrom(response, call);
  await response.discard();
  return { etag: response.header("etag")?.replace(/"/g, "") ?? undefined };
}

/** Deletes segments by name (best effort: a failure here must not hide the write's own error). */
export async function removeSegments(
  client: SwiftClient,
  container: string,
  names: string[],
): Promise<void> {
  await Promise.all(
    names.map(async (name) => {
      try {
        const response = await client.send({
          method: "DELETE",
          container,
          object: name,
          operation: "delete",
        });
        await response.discard();
      } catch {
        // Orphaned segments cost space, not correctness; the caller reports the real failure.
      }
    }),
  );
}

function randomHex(bytes: number): string {
  const out = new Uint8Array(bytes);
  crypto.getRandomValues(out);
  return Array.from(out, (b) => b.toString(16).padStart(2, "0")).join("");
}
