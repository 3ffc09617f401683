/**
 * A pool of served-chunk buffers. Allocating a zeroed 256 KiB buffer per response costs as
 * much CPU as assembling it (and churns the garbage collector), so the Node server hands each
 * body back once it is written, and the next response of the same size reuses it. Bodies that
 * are never handed back (fetch-style `Response`s) are simply collected.
 */
export class BufferPool {
  readonly #free = new Map<number, Uint8Array[]>();
  readonly #maxBytes: number;
  #bytes = 0;

  /** Keeps at most `maxBytes` of idle buffers. */
  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  /** A buffer of `size` bytes; `zeroed` tells whether it is fresh (all zero) or reused. */
  acquire(size: number): { bytes: Uint8Array; zeroed: boolean } {
    const reused = this.#free.get(size)?.pop();
    if (reused !== undefined) {
      this.#bytes -= size;
      return { bytes: reused, zeroed: false };
    }
    return { bytes: new Uint8Array(size), zeroed: true };
  }

  /** Takes a buffer back once nothing reads it any more. */
  release(bytes: Uint8Array): void {
    if (bytes.byteOffset !== 0 || bytes.byteLength !== bytes.buffer.byteLength) return;
    if (this.#bytes + bytes.byteLength > this.#maxBytes) return;
    let list = this.#free.get(bytes.byteLength);
    if (list === undefined) {
      list = [];
      this.#free.set(bytes.byteLength, list);
    }
    list.push(bytes);
    this.#bytes += bytes.byteLength;
  }
}
