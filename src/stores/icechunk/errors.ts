import { StoreError, type StoreErrorCode, type StoreOperation } from "../../errors.js";
import { codeInMessage } from "./storage.js";

export const BACKEND = "IcechunkStore";

/** Where an Icechunk call failed, for the error. */
export interface IcechunkContext {
  operation: StoreOperation;
  key?: string | undefined;
  branch?: string | undefined;
}

/**
 * Icechunk's errors (its bindings report every one as `GenericFailure` with a message) mapped to
 * our codes by their message, first match wins. A code that our own storage callbacks raised
 * travels in the message (`[zarrstore:Code]`) and wins over all of these.
 */
const MESSAGE_CODES: readonly [RegExp, StoreErrorCode][] = [
  [/branch update conflict|conflict|cannot rebase/i, "Conflict"],
  [/already exists/i, "Conflict"],
  [/invalid zarr key format|invalid chunk index/i, "InvalidKey"],
  [/read-only/i, "ReadOnly"],
  [
    /repository doesn't exist|ref not found|snapshot id not found|node not found|not found/i,
    "NotFound",
  ],
  [
    /Invalid ObjectId|bad metadata|zero-length chunk|cannot be deleted|ancestry doesn't include/i,
    "Config",
  ],
];

/** The StoreError for an error thrown by Icechunk. */
export function mapIcechunkError(error: unknown, context: IcechunkContext): StoreError {
  if (error instanceof StoreError) return error;
  const message = error instanceof Error ? error.message : String(error);
  const text = firstLine(message);
  const carried = codeInMessage(message) as StoreErrorCode | undefined;
  const code =
    carried ?? MESSAGE_CODES.find(([pattern]) => pattern.test(text))?.[1] ?? "Unexpected";
  return new StoreError({
    code,
    message: describe(code, text, context),
    operation: context.operation,
    key: context.key,
    backend: BACKEND,
    cause: error,
  });
}

function describe(code: StoreErrorCode, text: string, context: IcechunkContext): string {
  const where = context.key ? ` ${context.key}` : "";
  const base = `Icechunk ${context.operation}${where}: ${text}`;
  if (code === "Conflict" && context.operation === "commit") {
    return (
      `${base}: branch '${context.branch}' moved since this session began (another writer ` +
      "committed): call rebase() to replay these changes on the new tip, then commit again"
    );
  }
  if (code === "InvalidKey") {
    return `${base} (Icechunk holds Zarr v3 keys only: <path>/zarr.json and chunk keys <array>/c/…)`;
  }
  return base;
}

function firstLine(message: string): string {
  const line = message.split("\n")[0] ?? message;
  return line.replace(/^storage error: /, "").trim();
}

/** Runs an Icechunk call and maps what it throws. */
export async function call<T>(context: IcechunkContext, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw mapIcechunkError(error, context);
  }
}
