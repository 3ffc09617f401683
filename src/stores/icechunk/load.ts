import { StoreError } from "../../errors.js";

/** The `@earthmover/icechunk` module: the native build, or its WASM build with the same API. */
export type IcechunkModule = typeof import("@earthmover/icechunk");

/** What to install when Icechunk cannot be loaded; named in the error. */
export const ICECHUNK_INSTALL_HINT =
  "install @earthmover/icechunk (native build: Linux needs glibc >= 2.38) and, where the native " +
  "build cannot load, @earthmover/icechunk-wasm32-wasi too (WASM build, any platform): " +
  "npm install @earthmover/icechunk @earthmover/icechunk-wasm32-wasi";

/**
 * Loads Icechunk on first use. The package's own loader tries its native binary and falls back
 * to the WASM build when that is installed; when the package itself cannot load (no native
 * binary for this platform and no WASM fallback beside it), the WASM package is imported
 * directly. Neither loading is a `StoreError` with code `Unsupported` naming what to install.
 */
export async function loadIcechunk(): Promise<IcechunkModule> {
  const errors: unknown[] = [];
  for (const name of ["@earthmover/icechunk", "@earthmover/icechunk-wasm32-wasi"]) {
    try {
      return asModule(await import(name));
    } catch (error) {
      errors.push(error);
    }
  }
  throw new StoreError({
    code: "Unsupported",
    message: `Icechunk is not available here (${firstLine(errors[0])}): ${ICECHUNK_INSTALL_HINT}`,
    operation: "open",
    backend: "IcechunkStore",
    cause: new AggregateError(errors, "every Icechunk build failed to load"),
  });
}

// Both builds are CommonJS: Node hands them to `import()` as `default`, with named exports
// where its lexer found them.
function asModule(imported: unknown): IcechunkModule {
  const candidate = imported as { default?: unknown; Repository?: unknown };
  const module = (candidate.Repository ? candidate : candidate.default) as
    | Partial<IcechunkModule>
    | undefined;
  if (!module?.Repository || !module.Storage) {
    throw new Error("the module does not export Repository and Storage");
  }
  return module as IcechunkModule;
}

function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split("\n")[0] ?? text;
}

const DISPOSE = Symbol.for("napi.rs.wasi.dispose");

/**
 * Starts stopping the WASM build's worker threads, which otherwise keep a Node process alive after its
 * work is done; call it once when the process is finished with Icechunk (nothing Icechunk can
 * be used afterwards). The native build has nothing to stop.
 */
export async function disposeIcechunk(): Promise<void> {
  for (const name of ["@earthmover/icechunk", "@earthmover/icechunk-wasm32-wasi"]) {
    let imported: Record<PropertyKey, unknown>;
    try {
      imported = (await import(name)) as Record<PropertyKey, unknown>;
    } catch {
      continue;
    }
    const binding = (imported.default ?? imported) as Record<PropertyKey, unknown>;
    const dispose = binding[DISPOSE];
    if (typeof dispose === "function") {
      // Not awaited: once the workers are gone nothing is left to settle the teardown's promise,
      // and a top-level await on it would end the process with code 13.
      Promise.resolve((dispose as () => Promise<void>).call(binding)).catch(() => {});
    }
    return;
  }
}
