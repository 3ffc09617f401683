import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { capabilityTable } from "../scripts/capability-table.js";

const readme = await readFile(new URL("../README.md", import.meta.url), "utf8");

describe("README", () => {
  it("holds the capability table the stores declare", async () => {
    const between = /<!-- capabilities:start -->\n([\s\S]*?)\n<!-- capabilities:end -->/.exec(
      readme,
    );
    expect(between, "README lacks the capability table markers").not.toBeNull();
    expect(between?.[1]).toBe(await capabilityTable());
  });

  it("starts with the two set-up commands", () => {
    const commands = readme
      .split("\n")
      .filter((line) => /^npm install && npm (start|test)\b/.test(line));
    expect(commands.map((line) => line.split("#")[0]?.trim())).toEqual([
      "npm install && npm start",
      "npm install && npm test",
    ]);
  });
});
