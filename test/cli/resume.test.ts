/** A killed sweep resumes from its resume log and ends with byte-identical result files. */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { encodeNpy } from "../../src/runs/npy.js";
import { random, randomMlp } from "../helpers.js";

const BIN = fileURLToPath(new URL("../../bin/lesion.js", import.meta.url));

function resultFiles(dir: string): Record<string, string> {
  const files: Record<string, string> = {};
  for (const name of readdirSync(dir).sort()) {
    let text = readFileSync(join(dir, name)).toString("base64");
    if (name === "summary.json") {
      const summary = JSON.parse(readFileSync(join(dir, name), "utf8"));
      summary.elapsedSeconds = 0;
      text = JSON.stringify(summary);
    }
    files[name] = text;
  }
  return files;
}

async function sleep(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

describe("lesion ablate resume", () => {
  it("lesion ablate --units pairs, killed mid-run and run again, writes the same files as an uninterrupted run", async () => {
    const dir = mkdtempSync(join(tmpdir(), "lesion-resume-"));
    // Sized to finish in a third of the test's limit on a loaded 2-core machine: 300 conditions of 500 images is five
    // resume-log blocks, so a kill after the first block leaves work for the resumed run.
    writeFileSync(join(dir, "m.onnx"), randomMlp([36, 24, 16, 10], 8, [1, 6, 6]));
    const n = 500;
    // 24·23/2 pairs and the 24 singles their redundancy needs.
    const conditions = 276 + 24;
    const rand = random(2);
    writeFileSync(join(dir, "x.npy"), encodeNpy(Float32Array.from({ length: n * 36 }, () => rand()), [n, 1, 6, 6]));
    writeFileSync(join(dir, "y.npy"), encodeNpy(Int32Array.from({ length: n }, () => Math.floor(rand() * 10)), [n]));
    // Mean ablation goes through the general engine, which logs every 64 conditions: slow enough to kill.
    const args = [BIN, "ablate", "m.onnx", "--data", "npy:x.npy,y.npy", "--site", "fc1", "--units", "pairs", "--mode", "mean"];

    const whole = spawnSync(process.execPath, [...args, "-o", "whole"], { cwd: dir, encoding: "utf8" });
    expect(whole.stderr).toBe("");
    expect(whole.status).toBe(0);

    const child = spawn(process.execPath, [...args, "-o", "killed"], { cwd: dir, stdio: "ignore" });
    const resumeLog = join(dir, "killed", "resume-log.jsonl");
    const started = Date.now();
    // Kill once a block of conditions is on disk (header + intact + ≥ 1 block).
    while (Date.now() - started < 30_000) {
      if (existsSync(resumeLog) && readFileSync(resumeLog, "utf8").split("\n").length > 2 + 64) break;
      await sleep(5);
    }
    child.kill("SIGKILL");
    await new Promise((resolve) => child.once("exit", resolve));
    expect(existsSync(join(dir, "killed", "summary.json"))).toBe(false);
    const saved = readFileSync(resumeLog, "utf8").split("\n").length;
    expect(saved).toBeGreaterThan(2 + 64);
    expect(saved).toBeLessThan(2 + conditions);

    const resumed = spawnSync(process.execPath, [...args, "-o", "killed"], { cwd: dir, encoding: "utf8" });
    // Said without a terminal too (a trial's resumed run looked like a fresh one): the conditions on disk before it.
    expect(resumed.stderr).toBe(`lesion: resuming: ${saved - 3} of ${conditions} conditions done before, from killed/resume-log.jsonl\n`);
    expect(resumed.status).toBe(0);
    expect(existsSync(resumeLog)).toBe(false);
    expect(resultFiles(join(dir, "killed"))).toEqual(resultFiles(join(dir, "whole")));

    // One Ctrl-C delivered twice within milliseconds (as `timeout -s INT` does: the command and its process group)
    // aborts cleanly: one line, exit 1, the lock released, the resume log kept. Before, the second copy exited 130
    // at once, silently, leaving lesion.lock behind.
    const interrupted = spawn(process.execPath, [...args, "-o", "interrupted"], { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    interrupted.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const interruptedLog = join(dir, "interrupted", "resume-log.jsonl");
    const begun = Date.now();
    while (Date.now() - begun < 30_000 && !(existsSync(interruptedLog) && readFileSync(interruptedLog, "utf8").split("\n").length > 2)) await sleep(5);
    interrupted.kill("SIGINT");
    await sleep(30);
    interrupted.kill("SIGINT");
    const code = await new Promise((resolve) => interrupted.once("exit", resolve));
    expect(stderr).toBe("lesion: run aborted\n");
    expect(code).toBe(1);
    expect(existsSync(join(dir, "interrupted", "lesion.lock"))).toBe(false);
    expect(existsSync(interruptedLog)).toBe(true);

    // SIGTERM stops it the same way (it had exited at once, silently, leaving lesion.lock behind).
    const terminated = spawn(process.execPath, [...args, "-o", "terminated"], { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
    let terminatedErr = "";
    terminated.stderr!.on("data", (chunk: Buffer) => (terminatedErr += chunk.toString()));
    const terminatedLog = join(dir, "terminated", "resume-log.jsonl");
    const since = Date.now();
    while (Date.now() - since < 30_000 && !(existsSync(terminatedLog) && readFileSync(terminatedLog, "utf8").split("\n").length > 2)) await sleep(5);
    terminated.kill("SIGTERM");
    expect(await new Promise((resolve) => terminated.once("exit", resolve))).toBe(1);
    expect(terminatedErr).toBe("lesion: run aborted\n");
    expect(existsSync(join(dir, "terminated", "lesion.lock"))).toBe(false);
    expect(existsSync(terminatedLog)).toBe(true);
  });
});
