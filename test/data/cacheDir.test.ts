/** An unwritable cache directory is found before the work whose result goes there: no download, training or t-SNE is lost. */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { checkCacheDir } from "../../src/data/cacheDir.js";
import { fashionMnistFiles } from "../../src/data/fashionMnist.js";
import { isLesionError } from "../../src/errors.js";
import { defaultModel } from "../../src/models/defaultModel.js";
import { checkStimulusMapCache } from "../../src/study/stimulusMap.js";

let file = "";

async function errorOf(run: () => unknown): Promise<{ code: string; message: string }> {
  try {
    await run();
  } catch (error) {
    expect(isLesionError(error)).toBe(true);
    return error as { code: string; message: string };
  }
  throw new Error("no error thrown");
}

beforeAll(() => {
  file = join(mkdtempSync(join(tmpdir(), "lesion-cache-")), "a-file");
  writeFileSync(file, "x");
});

describe("cache directory", () => {
  it("checkCacheDir(dir under a file) is unwritable-path naming the directory and LESION_CACHE_DIR; a writable one passes", async () => {
    const error = await errorOf(() => checkCacheDir(join(file, "models")));
    expect(error.code).toBe("unwritable-path");
    expect(error.message).toBe(`cache directory ${join(file, "models")} is not writable (set LESION_CACHE_DIR to a writable directory): a part of the path is a file, not a directory (ENOTDIR)`);
    expect(() => checkCacheDir(join(file, "..", "ok", "models"))).not.toThrow();
  });

  it("fashionMnistFiles('train') with an unwritable cache fails before fetching anything", async () => {
    let fetched = 0;
    const fetchSpy = (async () => {
      fetched++;
      throw new Error("no network in tests");
    }) as unknown as typeof fetch;
    const error = await errorOf(() => fashionMnistFiles("train", { cacheDir: file, bundledDir: null, systemDir: null, download: true, baseUrl: "http://127.0.0.1:9/", fetch: fetchSpy }));
    expect(error.code).toBe("unwritable-path");
    expect(error.message).toContain(`cache directory ${join(file, "fashion-mnist")} is not writable`);
    expect(fetched).toBe(0);
  });

  it("defaultModel({cacheDir}) with an unwritable cache fails before training (in well under a second)", async () => {
    const started = performance.now();
    const error = await errorOf(() => defaultModel({ cacheDir: file }));
    expect(error.code).toBe("unwritable-path");
    expect(error.message).toContain(`cache directory ${join(file, "models")} is not writable`);
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it("checkStimulusMapCache(data, {cacheDir}) refuses an unwritable cache before the t-SNE", async () => {
    const data = { spec: "t", n: 4, shape: [1, 1, 2] as [number, number, number], images: new Float32Array(8), labels: new Int32Array(4), numClasses: 2, classNames: ["0", "1"], source: "t" };
    const error = await errorOf(() => checkStimulusMapCache(data, { cacheDir: join(file, "maps") }));
    expect(error.code).toBe("unwritable-path");
  });
});
