/**
 * Output directories that hold other files: lesion writes a run's files only into a directory that is new, empty, or
 * already lesion's (a run's run.json, summary.json, resume log or epoch state; a study's study.json). A user's
 * `ablate … -o ~/Documents` had put summary.json, .npy files and a CSV per site among their own files, where a later
 * run of the same directory removes files by the names its run listed.
 */
import { readdirSync, statSync } from "node:fs";
import { fail } from "../errors.js";
import { LOCK_FILE } from "./lock.js";

/**
 * Entries lesion leaves in a directory while it works or after a kill (its lock and the lock's takeover, half-written
 * `name.<pid>.tmp` temporaries, the write probe), and those a file manager adds on its own (.DS_Store, Thumbs.db):
 * none of them is a user's file.
 */
function isLitter(name: string): boolean {
  return name === LOCK_FILE || name === `${LOCK_FILE}.takeover` || /\.\d+\.tmp$/.test(name) || name === ".DS_Store" || name === "Thumbs.db";
}

/**
 * The entries of `dir` other than lesion's working files and a file manager's (isLitter), sorted, a directory's name
 * ending in `/`. Empty where `dir` does not exist, is not a directory, or cannot be read: the writes that follow name
 * those faults. Throws nothing.
 */
export function foreignEntries(dir: string): string[] {
  try {
    if (!statSync(dir).isDirectory()) return [];
    return readdirSync(dir, { withFileTypes: true })
      .filter((entry) => !isLitter(entry.name))
      .map((entry) => (entry.isDirectory() ? `${entry.name}/` : entry.name))
      .sort();
  } catch {
    return [];
  }
}

/**
 * Refuses `dir` as the output directory of a lesion `what` ("run" or "study") where it holds entries (foreignEntries)
 * and none of them is one of `markers`, the files that mark lesion's run or study there. Call it before anything is
 * written: the refused directory is left as it was.
 * @throws LesionError `resume-mismatch` naming the directory and its first few entries.
 */
export function refuseForeignDir(dir: string, markers: readonly string[], what: "run" | "study"): void {
  const entries = foreignEntries(dir);
  if (entries.length === 0 || entries.some((name) => markers.includes(name))) return;
  const shown = `${entries.slice(0, 3).join(", ")}${entries.length > 3 ? `, … ${entries.length} in all` : ""}`;
  fail("resume-mismatch", `${dir} holds other files (${shown}) and no lesion ${what}; choose a new or empty output directory`, { path: dir });
}

