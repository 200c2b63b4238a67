import { mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { foreignEntries, refuseForeignDir } from "../../src/runs/foreignDir.js";
import { openResultDir, type RunIdentity } from "../../src/runs/resultDir.js";
import { checkStudyDir } from "../../src/runs/study.js";
import { errorOf } from "../helpers.js";

const run: RunIdentity = { command: "ablate", model: "a".repeat(64), data: { spec: "npy:x,y", n: 3, shape: [1, 2, 2], sha256: "b".repeat(64) }, options: { site: "fc1" } };

/** A new directory under a fresh temporary one, holding `files` (name → text; a name ending in / is a directory). */
function directory(files: Record<string, string>): string {
  const dir = join(mkdtempSync(join(tmpdir(), "lesion-foreign-")), "out");
  mkdirSync(dir);
  for (const [name, text] of Object.entries(files)) {
    if (name.endsWith("/")) mkdirSync(join(dir, name));
    else writeFileSync(join(dir, name), text);
  }
  return dir;
}

/** Every name under `dir` with its content: what a refusal must leave as it was. */
const contents = (dir: string) => readdirSync(dir, { recursive: true }).map(String).sort().map((name) => [name, statSync(join(dir, name)).isDirectory() ? "/" : readFileSync(join(dir, name), "utf8")]);

describe("foreignEntries", () => {
  it("foreignEntries(dir) lists a user's files and directories (with /), sorted, leaving out lesion's lock, temporaries and probe, and .DS_Store", () => {
    const dir = directory({ "zeta.txt": "z", "alpha/": "", ".hidden": "h", "lesion.lock": "1", "lesion.lock.takeover": "1", "fc1.csv.4242.tmp": "half", ".lesion-probe.77.tmp": "probe", ".DS_Store": "", "Thumbs.db": "", "notes.tmp": "a user's" });
    expect(foreignEntries(dir)).toEqual([".hidden", "alpha/", "notes.tmp", "zeta.txt"]);
    expect(foreignEntries(join(dir, "missing"))).toEqual([]);
    expect(foreignEntries(join(dir, "zeta.txt"))).toEqual([]);
  });
});

describe("refuseForeignDir", () => {
  it("openResultDir(dir of a user's files) refuses with resume-mismatch naming the directory and its first entries, with overwrite too; nothing written", async () => {
    const dir = directory({ "notes.txt": "mine", "thesis.pdf": "%PDF", "photos/": "" });
    const before = contents(dir);
    for (const overwrite of [false, true]) {
      const error = await errorOf(() => openResultDir(dir, run, { overwrite }));
      expect([error.code, error.message, error.details]).toEqual(["resume-mismatch", `${dir} holds other files (notes.txt, photos/, thesis.pdf) and no lesion run; choose a new or empty output directory`, { path: dir }]);
      expect(contents(dir)).toEqual(before);
    }
    // More than three: the first three and how many in all.
    const many = directory({ a: "", b: "", c: "", d: "", e: "" });
    expect((await errorOf(() => refuseForeignDir(many, ["run.json"], "run"))).message).toBe(`${many} holds other files (a, b, c, … 5 in all) and no lesion run; choose a new or empty output directory`);
  });

  it("openResultDir accepts a new or empty directory, one of only lesion's leftovers (a dead run's lock, a temporary) and .DS_Store, and a user's file beside a run's resume log or summary", () => {
    const dead = spawnSync(process.execPath, ["-e", ""]).pid!;
    const accepted: Array<Record<string, string>> = [
      {},
      { "lesion.lock": `${dead}\n`, "run.json.123.tmp": "half", ".DS_Store": "" },
      { "notes.txt": "mine", "resume-log.jsonl": "{}\n" },
      { "notes.txt": "mine", "resume-state.json": "{}" },
    ];
    for (const files of accepted) {
      const dir = directory(files);
      const claimed = openResultDir(dir, run);
      expect(readdirSync(dir)).toContain("run.json");
      claimed.release();
    }
    const fresh = join(mkdtempSync(join(tmpdir(), "lesion-foreign-")), "new", "out");
    openResultDir(fresh, run).write([], { ok: true });
    expect(readdirSync(fresh).sort()).toEqual(["run.json", "summary.json"]);
    // Then a user's file beside the finished run: still the run's directory.
    writeFileSync(join(fresh, "notes.txt"), "mine");
    const again = openResultDir(fresh, run);
    expect(again.finished).toBe(true);
    again.release();
  });

  it("checkStudyDir(dir) refuses a user's files, and other runs' directories, without study.json; accepts a study's directory and an empty one", async () => {
    const user = directory({ "notes.txt": "mine" });
    expect(await errorOf(() => checkStudyDir(user))).toMatchObject({ code: "resume-mismatch", message: `${user} holds other files (notes.txt) and no lesion study; choose a new or empty output directory`, details: { path: user } });
    const runs = directory({ "ablate/": "" });
    writeFileSync(join(runs, "ablate", "run.json"), JSON.stringify({ run }));
    expect((await errorOf(() => checkStudyDir(runs))).message).toBe(`${runs} holds other files (ablate/) and no lesion study; choose a new or empty output directory`);
    expect(contents(user)).toEqual([["notes.txt", "mine"]]);
    // A command's results: the message that says which.
    const command = directory({ "run.json": JSON.stringify({ run }) });
    expect((await errorOf(() => checkStudyDir(command))).message).toBe(`${command} holds the results of \`lesion ablate\`, not a study; choose another output directory`);
    expect(() => checkStudyDir(directory({ "study.json": "{}", "eval/": "", "report.html": "<html>", "notes.txt": "mine" }))).not.toThrow();
    expect(() => checkStudyDir(directory({}))).not.toThrow();
  });
});
