/**
 * Benchmark helpers: run contenders alternately in one process, take medians, print ratios.
 * Absolute numbers drift by up to a third between runs on shared machines; ratios within one
 * run hold, so every table puts the anchor beside our code.
 */

/** One contender: a name and a function that does the work once and returns units done (ops, bytes…). */
export interface Contender {
  name: string;
  run: () => Promise<number>;
  /** Runs before the first round (warm-up, start servers…). */
  setup?: () => Promise<void>;
  teardown?: () => Promise<void>;
}

/** The result of one contender across rounds. */
export interface Result {
  name: string;
  /** Units per second in each round. */
  rates: number[];
  median: number;
}

/** The median of numbers. */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/**
 * Runs the contenders alternately for `rounds` rounds and returns units/second for each. Each
 * round starts with the next contender in turn, so none always runs first (cold caches) or last
 * (a server's grown state); `warmup` rounds run the same way first and are not recorded.
 */
export async function compare(
  contenders: Contender[],
  rounds = 5,
  options: { warmup?: number } = {},
): Promise<Result[]> {
  for (const c of contenders) await c.setup?.();
  const rates = new Map<string, number[]>(contenders.map((c) => [c.name, []]));
  const warmup = options.warmup ?? 0;
  for (let round = -warmup; round < rounds; round++) {
    const turn = ((round % contenders.length) + contenders.length) % contenders.length;
    for (const c of [...contenders.slice(turn), ...contenders.slice(0, turn)]) {
      const started = performance.now();
      const units = await c.run();
      const seconds = (performance.now() - started) / 1000;
      if (round >= 0) rates.get(c.name)?.push(units / seconds);
    }
  }
  for (const c of contenders) await c.teardown?.();
  return contenders.map((c) => {
    const r = rates.get(c.name) ?? [];
    return { name: c.name, rates: r, median: median(r) };
  });
}

/**
 * The median over rounds of a contender's rate divided by the baseline's rate in the same round:
 * steadier than a ratio of medians when the machine's speed drifts during a run.
 */
export function pairedRatio(result: Result, baseline: Result): number {
  const n = Math.min(result.rates.length, baseline.rates.length);
  const ratios = Array.from(
    { length: n },
    (_, i) => (result.rates[i] as number) / (baseline.rates[i] as number),
  );
  return median(ratios);
}

/** Prints a table of medians with ratios to the baseline contender (by name), of medians and paired by round. */
export function printTable(title: string, unit: string, results: Result[], baseline: string): void {
  const base = results.find((r) => r.name === baseline);
  const width = Math.max(...results.map((r) => r.name.length), 10);
  console.log(`\n## ${title}`);
  console.log(
    `${"contender".padEnd(width)}  ${`median ${unit}`.padStart(16)}  ${`× ${baseline}`.padStart(12)}  ${"paired ×".padStart(9)}`,
  );
  for (const r of results) {
    const ratio = base ? r.median / base.median : Number.NaN;
    const paired = base ? pairedRatio(r, base) : Number.NaN;
    console.log(
      `${r.name.padEnd(width)}  ${r.median.toFixed(1).padStart(16)}  ${ratio.toFixed(2).padStart(12)}  ${paired.toFixed(2).padStart(9)}`,
    );
  }
}

/** Runs `work` over `items` with at most `limit` in flight (the library's own helper). */
export { inParallel as pool } from "../src/lanes.js";
