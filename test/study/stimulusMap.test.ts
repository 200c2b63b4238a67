import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { Dataset } from "../../src/data/types.js";
import { closeModel, openModel, resolveSite } from "../../src/engine/model.js";
import { ablate } from "../../src/study/ablate.js";
import { pairs, singles } from "../../src/study/conditions.js";
import { seeded } from "../../src/random.js";
import { silhouette } from "../../src/study/stats.js";
import { sampleOutcomes, stimulusMap } from "../../src/study/stimulusMap.js";
import { randomMlp } from "../helpers.js";

/** Three classes of 6x6 images, each a bright blob in its own corner plus noise. */
function blobs(n: number): Dataset {
  const rand = seeded(4);
  const images = new Float32Array(n * 36);
  const labels = Int32Array.from({ length: n }, (_, i) => i % 3);
  for (let s = 0; s < n; s++) {
    for (let p = 0; p < 36; p++) images[s * 36 + p] = 0.2 * rand();
    const [y, x] = [[0, 0], [0, 3], [3, 0]][labels[s]];
    for (let dy = 0; dy < 3; dy++) for (let dx = 0; dx < 3; dx++) images[s * 36 + (y + dy) * 6 + x + dx] += 0.8;
  }
  return { spec: "blobs", n, shape: [1, 6, 6], images, labels, numClasses: 3, classNames: ["a", "b", "c"], source: "test" };
}

describe("stimulusMap", () => {
  it("stimulusMap(data, {samples}) embeds a seeded sample in 2-D where classes separate, and caches it", async () => {
    const cacheDir = mkdtempSync(join(tmpdir(), "lesion-map-"));
    const data = blobs(240);
    const map = await stimulusMap(data, { samples: 150, cacheDir, seed: 3 });
    expect(map.samples).toHaveLength(150);
    expect(new Set(map.samples).size).toBe(150);
    expect(map.samples).toEqual([...map.samples].sort((a, b) => a - b));
    expect(map.labels).toEqual(map.samples.map((s) => data.labels[s]));
    const m = map.samples.length;
    const xy = map.coordinates.data as number[];
    const distances = new Float64Array(m * m);
    for (let i = 0; i < m; i++) for (let j = 0; j < m; j++) distances[i * m + j] = Math.hypot(xy[2 * i] - xy[2 * j], xy[2 * i + 1] - xy[2 * j + 1]);
    expect(silhouette(distances, map.labels)).toBeGreaterThan(0.5);
    expect(readdirSync(cacheDir)).toHaveLength(1);
    expect(await stimulusMap(data, { samples: 150, cacheDir, seed: 3 })).toEqual(map);
    expect(readdirSync(cacheDir)).toHaveLength(1);
    const other = await stimulusMap(data, { samples: 150, cacheDir, seed: 4 });
    expect(other.samples).not.toEqual(map.samples);
  });

  // A trial's first map took 24 s with one progress event (done 0, total 0) and could not be stopped.
  it("a computed map reports its t-SNE iterations (0 first, then every 10) and stops on its signal; a cached one reports nothing", async () => {
    const cacheDir = mkdtempSync(join(tmpdir(), "lesion-map-progress-"));
    const data = blobs(120);
    const events: Array<{ phase: string; done: number; total: number }> = [];
    const map = await stimulusMap(data, { samples: 60, cacheDir, seed: 2, iterations: 45 }, { onProgress: (e) => events.push(e) });
    expect(events).toEqual([0, 10, 20, 30, 40, 45].map((done) => ({ phase: "stimulus map", done, total: 45 })));
    // The same map as one computed without listening (another cache directory).
    expect(await stimulusMap(data, { samples: 60, cacheDir: mkdtempSync(join(tmpdir(), "lesion-map-quiet-")), seed: 2, iterations: 45 })).toEqual(map);
    events.length = 0;
    expect(await stimulusMap(data, { samples: 60, cacheDir, seed: 2, iterations: 45 }, { onProgress: (e) => events.push(e) })).toEqual(map);
    expect(events).toEqual([]);
    const stop = new AbortController();
    const stopped = mkdtempSync(join(tmpdir(), "lesion-map-stopped-"));
    const run = stimulusMap(data, { samples: 60, cacheDir: stopped, seed: 2, iterations: 400 }, { signal: stop.signal, onProgress: (e) => e.done === 20 && stop.abort() });
    await expect(run).rejects.toMatchObject({ code: "aborted" });
    expect(readdirSync(stopped)).toEqual([]);
  });

  // A trial cut the cached file short: every later characterize, study and explore --map of that data set failed with
  // an internal error until the file was found and deleted by hand.
  it("a damaged cache file (cut short, another shape, empty, a sample out of range) is a miss: the map is computed again and the file replaced", async () => {
    const cacheDir = mkdtempSync(join(tmpdir(), "lesion-map-damaged-"));
    const data = blobs(120);
    const map = await stimulusMap(data, { samples: 60, cacheDir, seed: 1, iterations: 100 });
    const file = join(cacheDir, readdirSync(cacheDir)[0]);
    const whole = readFileSync(file, "utf8");
    const outOfRange = JSON.stringify({ ...JSON.parse(whole), samples: [...map.samples.slice(0, -1), 120] });
    for (const damaged of [whole.slice(0, 500), '{"foo":1}', "", "null", outOfRange]) {
      writeFileSync(file, damaged);
      expect(await stimulusMap(data, { samples: 60, cacheDir, seed: 1, iterations: 100 })).toEqual(map);
      expect(readFileSync(file, "utf8")).toBe(whole);
    }
  });

  it("sampleOutcomes(result, labels, i) codes kept, lost, gained, lost only jointly and wrong", async () => {
    const model = await openModel(randomMlp([36, 8, 3], 9, [1, 6, 6]), { name: "mlp" });
    try {
      const data = blobs(300);
      const site = resolveSite(model, "fc1");
      const result = await ablate(model, data, { conditions: [...singles(site), ...pairs(site)] });
      const after = (i: number) => {
        const p = Int32Array.from(result.predictions);
        result.changes[i].samples.forEach((s, j) => (p[s] = result.changes[i].predictions[j]));
        return p;
      };
      for (const i of [0, 8, 20]) {
        const codes = sampleOutcomes(result, data.labels, i);
        const c = result.conditions[i];
        const now = after(i);
        const alone = c.units.length === 2 ? c.units.map((u) => after(u)) : null;
        for (let s = 0; s < data.n; s++) {
          const y = data.labels[s];
          const before = result.predictions[s] === y;
          const expected = before && now[s] === y ? 0 : before ? (alone && alone.every((p) => p[s] === y) ? 3 : 1) : now[s] === y ? 2 : 4;
          expect(codes[s]).toBe(expected);
        }
        if (c.redundancy) {
          const jointly = [0, 1, 2].map((cls) => codes.filter((code, s) => code === 3 && data.labels[s] === cls).length);
          const intactCorrect = [0, 1, 2].map((cls) => data.labels.filter((y, s) => y === cls && result.predictions[s] === y).length);
          jointly.forEach((j, cls) => intactCorrect[cls] > 0 && expect(c.redundancy!.perClass[cls]).toBeCloseTo(j / intactCorrect[cls], 12));
        }
      }
    } finally {
      await closeModel(model);
    }
  });
});
