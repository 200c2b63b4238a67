/** The command table: a run imports only the module of the command it names; help and typos see every command. */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { buildProgram } from "../../src/cli/main.js";

const names = async (argv: string[]) => (await buildProgram(argv)).commands.map((c) => c.name());

describe("buildProgram", () => {
  it("buildProgram(['eval', …]) registers eval alone; report comes with study; no command, help or a typo registers every command", async () => {
    expect(await names(["eval", "m.onnx", "--data", "mnist:test"])).toEqual(["eval"]);
    expect(await names(["ablate"])).toEqual(["ablate"]);
    expect(await names(["report", "dir"])).toEqual(["study", "report"]);
    const all = ["info", "eval", "import", "record", "ablate", "characterize", "train", "recover", "transplant", "study", "report", "explore"];
    for (const argv of [[], ["help"], ["--help"], ["evl"]]) expect(await names(argv)).toEqual(all);
    expect(await names(["--version"])).toEqual([]);
  });

  it("lesion --version and -V print package.json's version and exit 0", () => {
    const bin = fileURLToPath(new URL("../../bin/lesion.js", import.meta.url));
    const { version } = JSON.parse(readFileSync(fileURLToPath(new URL("../../package.json", import.meta.url)), "utf8")) as { version: string };
    for (const flag of ["--version", "-V"]) {
      const run = spawnSync(process.execPath, [bin, flag], { encoding: "utf8" });
      expect([run.status, run.stdout, run.stderr]).toEqual([0, `${version}\n`, ""]);
    }
  });

  it("lesion with a usage error prints one line 'lesion: …' and exits 2", () => {
    const bin = fileURLToPath(new URL("../../bin/lesion.js", import.meta.url));
    const missing = spawnSync(process.execPath, [bin, "eval", "m.onnx"], { encoding: "utf8" });
    expect([missing.status, missing.stdout, missing.stderr]).toEqual([2, "", "lesion: required option '--data <spec>' not specified\n"]);
    const unknown = spawnSync(process.execPath, [bin, "eval", "m.onnx", "--data", "mnist:test", "--bogus"], { encoding: "utf8" });
    expect([unknown.status, unknown.stderr]).toEqual([2, "lesion: unknown option '--bogus'\n"]);
    // A misspelt required flag is named as unknown, with commander's suggestion on the same line (helper trial
    // 'newuser44': `--sites`, study's spelling, had said "required option '--site <names>' not specified").
    const misspelt = spawnSync(process.execPath, [bin, "ablate", "m.onnx", "--data", "mnist:test", "--sites", "h0"], { encoding: "utf8" });
    expect([misspelt.status, misspelt.stdout, misspelt.stderr]).toEqual([2, "", "lesion: unknown option '--sites' (did you mean --site?)\n"]);
    const typo = spawnSync(process.execPath, [bin, "ablte"], { encoding: "utf8" });
    expect([typo.status, typo.stderr]).toEqual([2, "lesion: unknown command 'ablte' (did you mean ablate?)\n"]);
    // Help still needs no required option.
    const help = spawnSync(process.execPath, [bin, "ablate", "--help"], { encoding: "utf8" });
    expect([help.status, help.stderr, help.stdout.includes("--site <names>")]).toEqual([0, "", true]);
  });
});
