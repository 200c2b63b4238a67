/** studyWarnings: the warnings a study's steps recorded, each once, with the steps that gave it; unsettled ties of one cause summed into one line. */
import { describe, expect, it } from "vitest";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { studyWarnings } from "../../src/runs/study.js";

describe("studyWarnings(dir)", () => {
  it("reads every step's summary.json warnings (steps without any, unfinished steps and damaged summaries give none)", () => {
    const dir = mkdtempSync(join(tmpdir(), "lesion-study-warnings-"));
    const step = (name: string, summary: string | null) => {
      mkdirSync(join(dir, name));
      if (summary !== null) writeFileSync(join(dir, name, "summary.json"), summary);
    };
    step("eval", JSON.stringify({ accuracy: 0.5 }));
    step("singles", JSON.stringify({ unresolvedTies: 7, warnings: ["7 near tie(s) could not be settled", "the model warns"] }));
    step("fractions", JSON.stringify({ warnings: ["the model warns"] }));
    // The same cause in another step, with its own count: one line, the counts summed.
    step("characterize", JSON.stringify({ unresolvedTies: 2, warnings: ["2 near tie(s) could not be settled"] }));
    step("pairs-fc1", null);
    step("pairs-fc2", JSON.stringify({ unresolvedTies: 3, warnings: [] }));
    step("record", "{ damaged");
    writeFileSync(join(dir, "study.json"), "{}");
    expect(studyWarnings(dir)).toEqual([
      "the model warns (fractions, singles)",
      "9 near tie(s) could not be settled (characterize, singles)",
      // A summary that counts unresolved ties without naming them (an earlier version's) gets a warning of its own.
      "3 near tie(s) could not be settled in float64: they keep their float32 prediction (pairs-fc2)",
    ]);
  });
});
