/** File access with the project's error codes, and atomic writes (temp name, then rename). */
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { fail } from "./errors.js";

/** Reads a whole file; a missing or unreadable path is a `missing-file` error naming what it was for. */
export function readFileChecked(path: string, what = "file"): Buffer {
  let stats;
  try {
    stats = statSync(path);
  } catch {
    fail("missing-file", `${what} not found: ${path}`, { path });
  }
  if (!stats.isFile()) fail("missing-file", `${what} is not a file: ${path}`, { path });
  return readFileSync(path);
}

/** Writes through a temporary sibling and renames it, so a reader never sees a half-written file. */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, data);
  renameSync(temporary, path);
}

export function sha256(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}
