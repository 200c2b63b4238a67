/**
 * vitest globalSetup: every test file's temporary directories (mkdtempSync(join(tmpdir(), …)), and the CLI's child
 * processes) go under one directory per run, removed when the run ends, so a run leaves nothing in the system's
 * temporary directory (it had left ~100 MB of result directories, models and data behind each time). Set before the
 * test files' processes start, which inherit TMPDIR (os.tmpdir() reads it).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export default function setup(): () => void {
  const dir = mkdtempSync(join(tmpdir(), "lesion-tests-"));
  process.env.TMPDIR = dir;
  return () => rmSync(dir, { recursive: true, force: true });
}
