import type { Store } from "../../store.js";
import type { Tier } from "../../testing/cases.js";
import { type CaseResult, runConformance } from "../../testing/run.js";
import { parseCommandArgs, writeJson } from "../format.js";
import { type CliIO, type Command, EXIT, UsageError } from "../io.js";
import { openTarget } from "../target.js";

const OPTIONS = {
  tier: { type: "string", default: "quick" },
  json: { type: "boolean" },
  filter: { type: "string" },
  writer: { type: "string" },
  writable: { type: "boolean" },
} as const;

/** `zarrstore conformance <url>`: runs the conformance suite against a store and reports. */
export const command: Command = {
  summary:
    "Run the store conformance suite against a URL and report each case (exit 1 when any fails).",
  usage:
    "zarrstore conformance <url> [--tier quick|heavy] [--filter text] [--writable] [--writer <url>] [--json]\n\n" +
    "Cases write under a random folder (/zs-conf-xxxxxxxx/) and remove it afterwards. Cases a\n" +
    "store's capabilities rule out are skipped. For a read-only store, --writer names a writable\n" +
    "store over the same data (e.g. the folder an HTTP server serves) to seed fixtures.\n" +
    "--writable opens stores that are read-only by default (HTTP) for writing (PUT/DELETE).",
  async run(args, io) {
    const { positionals, values } = parseCommandArgs(args, OPTIONS, {
      min: 1,
      max: 1,
      names: "the store URL",
    });
    const tier = values.tier;
    if (tier !== "quick" && tier !== "heavy") {
      throw new UsageError(`--tier must be quick or heavy, got '${tier}'`);
    }
    const url = positionals[0] as string;
    const store = await openTarget(url, io, values.writable ? { readOnly: false } : {});
    let writer: Store | undefined;
    try {
      writer = values.writer ? await openTarget(values.writer, io) : undefined;
      const report = await runConformance(store, {
        tier: tier as Tier,
        ...(writer ? { writer } : {}),
        ...(values.filter ? { filter: values.filter } : {}),
        ...(values.json ? {} : { onResult: (result: CaseResult) => printResult(result, io) }),
      });
      if (values.json) {
        writeJson(io, { url, tier, capabilities: store.capabilities, ...report });
      } else {
        const { passed, failed, skipped } = report;
        io.stdout.write(
          `\n${passed} passed, ${failed} failed, ${skipped} skipped (${tier} tier)\n`,
        );
      }
      return report.failed > 0 ? EXIT.failed : EXIT.ok;
    } finally {
      await writer?.close();
      await store.close();
    }
  },
};

function printResult(result: CaseResult, io: CliIO): void {
  const ms = `${Math.round(result.ms)} ms`;
  if (result.status === "passed") io.stdout.write(`  ok    ${result.name} (${ms})\n`);
  else if (result.status === "skipped")
    io.stdout.write(`  skip  ${result.name} (${result.reason})\n`);
  else io.stdout.write(`  FAIL  ${result.name} (${ms})\n        ${result.reason}\n`);
}
