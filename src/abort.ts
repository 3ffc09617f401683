/**
 * Waiting on a caller's AbortSignal from many calls at once. zarrita hands one signal to every
 * chunk read of a selection, and a copy hands its own to every key: registering a listener per
 * call puts dozens on one signal, and Node then warns of a leak ("MaxListenersExceededWarning",
 * past 10). Here each signal gets a single listener while any call waits on it; it runs the
 * callbacks of the calls waiting at that moment, and goes away with the last waiting call (Node
 * keeps a timeout or `any()` signal alive while it has listeners).
 */

interface Waiting {
  callbacks: Set<() => void>;
  onAbort: () => void;
}

/** The calls waiting on each signal (weakly held: a signal can go away with them). */
const WAITING = new WeakMap<AbortSignal, Waiting>();

/**
 * Runs `callback` once when `signal` aborts, unless the returned function is called first.
 * Like `addEventListener`, nothing happens for a signal that has already aborted: check
 * `signal.aborted` before.
 */
export function whenAborted(signal: AbortSignal, callback: () => void): () => void {
  if (signal.aborted) return () => {};
  const waiting = WAITING.get(signal) ?? listen(signal);
  // A wrapper of our own: the same function registered twice stays two registrations.
  const entry = () => callback();
  waiting.callbacks.add(entry);
  return () => {
    if (!waiting.callbacks.delete(entry) || waiting.callbacks.size > 0) return;
    signal.removeEventListener("abort", waiting.onAbort);
    if (WAITING.get(signal) === waiting) WAITING.delete(signal);
  };
}

function listen(signal: AbortSignal): Waiting {
  const callbacks = new Set<() => void>();
  const onAbort = () => {
    WAITING.delete(signal);
    const due = [...callbacks];
    callbacks.clear();
    for (const run of due) {
      try {
        run();
      } catch (error) {
        // One failing callback must not leave the others' calls hanging.
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  };
  const waiting = { callbacks, onAbort };
  WAITING.set(signal, waiting);
  signal.addEventListener("abort", onAbort, { once: true });
  return waiting;
}
