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
    every.stop();
    quiet.stop();
  });

  it("repeats the last count every interval while no event comes (a wide layer's pair losses, silent for 407 s in a trial's log), and says so for a phase without a total", async () => {
    const lines: string[] = [];
    vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => (lines.push(String(chunk)), true));
    const slow = progressReporter(false, 0.2);
    slow.onProgress({ phase: "ablate", detail: "fc1", done: 0, total: 500500 });
    await new Promise((resolve) => setTimeout(resolve, 1300));
    // Timers run late on a loaded machine: the count and the form are what matter, not the second.
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^lesion: ablate fc1 0\/500500 \(0 %\), \d+ s\n$/);
    slow.onProgress({ phase: "stimulus map", done: 0, total: 0 });
    await new Promise((resolve) => setTimeout(resolve, 1100));
    slow.stop();
    expect(lines[1]).toMatch(/^lesion: stimulus map \(working…\), \d+ s\n$/);
  });
});
