/**
 * Waiting on a caller's AbortSignal from many calls at once. zarrita hands one signal to every
 * chunk read of a selection, and a copy hands its own to every key: registering a listener per
 * call puts dozens on one signal, and Node then warns of a leak ("MaxListenersExceededWarning",
 * past 10). Here each signal gets a single listener that runs the callbacks of the calls
 * waiting at that moment; a call that finishes first removes its callback.
 */

/** The callbacks waiting on each signal (weakly held: a signal can go away with them). */
const WAITING = new WeakMap<AbortSignal, Set<() => void>>();

/**
 * Runs `callback` once when `signal` aborts, unless the returned function is called first.
 * Like `addEventListener`, nothing happens for a signal that has already aborted: check
 * `signal.aborted` before.
 */
export function whenAborted(signal: AbortSignal, callback: () => void): () => void {
  if (signal.aborted) return () => {};
  let waiting = WAITING.get(signal);
  if (waiting === undefined) {
    const callbacks = new Set<() => void>();
    waiting = callbacks;
    WAITING.set(signal, callbacks);
    signal.addEventListener(
      "abort",
      () => {
        const due = [...callbacks];
        callbacks.clear();
        for (const run of due) run();
      },
      { once: true },
    );
  }
  // A wrapper of our own: the same function registered twice stays two registrations.
  const entry = () => callback();
  const callbacks = waiting;
  callbacks.add(entry);
  return () => {
    callbacks.delete(entry);
  };
}
