/** progressReporter where stderr is no terminal: a line every so many seconds, none before. */
import { afterEach, describe, expect, it, vi } from "vitest";
import { progressReporter } from "../../src/cli/common.js";

describe("progressReporter(false) (stderr not a terminal)", () => {
  afterEach(() => vi.restoreAllMocks());

  it("writes 'lesion: PHASE DONE/TOTAL (P %), S s' once the interval has passed, and nothing for a phase without a total", () => {
    const lines: string[] = [];
    vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => (lines.push(String(chunk)), true));
    const every = progressReporter(false, 0);
    every.onProgress({ phase: "ablate", detail: "h1", done: 1234, total: 4950 });
    every.onProgress({ phase: "stimulus map", done: 0, total: 0 });
    every.onProgress({ phase: "transplant", done: 3, total: 4 });
    expect(lines).toEqual(["lesion: ablate h1 1234/4950 (24 %), 0 s\n", "lesion: transplant 3/4 (75 %), 0 s\n"]);
    lines.length = 0;
    // The default: a run's first 30 s print nothing.
    const quiet = progressReporter(false);
    quiet.onProgress({ phase: "ablate", done: 1, total: 2 });
    expect(lines).toEqual([]);
  });
});
