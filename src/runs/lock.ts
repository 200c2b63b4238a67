/**
 * The lock of a result or study directory: `lesion.lock`, created exclusively, holding the owner's pid. Two runs never
 * work in one directory at once; the lock of a process that no longer exists (a killed run) is taken over, by one run
 * only (under `lesion.lock.takeover`, also created exclusively). A few lines
 * of our own rather than a library: one process per lock, local file systems, and the pid check (a zombie counts as
 * gone) is the whole policy.
 */
import { closeSync, openSync, readFileSync, rmSync, statSync, writeSync } from "node:fs";
import { join } from "node:path";
import { fail } from "../errors.js";
import { guardWrite } from "../files.js";

/** The lock file's name inside a result or study directory. */
export const LOCK_FILE = "lesion.lock";

/**
 * Takes `dir/lesion.lock` for this process: created exclusively with our pid. A lock whose pid is alive refuses
 * (`dir-locked`); one whose process is gone (killed run) is taken over. `dir` must exist. `release()` removes the lock
 * if it is still ours; a second call does nothing.
 * @throws LesionError `dir-locked` (a live process holds it, this one included); `unwritable-path` (the lock cannot be
 * created: no such directory, permission, read-only).
 */
export function acquireLock(dir: string): { release: () => void } {
  const path = join(dir, LOCK_FILE);
  for (let attempt = 0; ; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, "wx");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST" || attempt > TAKEOVER_ATTEMPTS) guardWrite(path, () => { throw error; });
      const text = readLock(path);
      const owner = Number.parseInt(text, 10);
      // An empty lock a moment old is being written by its owner: held, pid not yet known.
      if (text === "" && Date.now() - mtime(path) < 2000) fail("dir-locked", `${dir} is in use by another lesion run (${path}); wait for it to finish or choose another output directory`, { dir });
      if (Number.isInteger(owner) && owner > 0 && alive(owner)) {
        fail("dir-locked", `${dir} is in use by another lesion run (pid ${owner}, ${path}); wait for it to finish or choose another output directory`, { dir, pid: owner });
      }
      // Stale (its process is gone, or the file is empty or damaged): taken over, or by now another run's.
      if (takeOver(path, text)) break;
      continue;
    }
    writePid(path, fd);
    break;
  }
  let held = true;
  return {
    release() {
      if (!held) return;
      held = false;
      if (readLock(path).trim() === String(process.pid)) rmSync(path, { force: true });
    },
  };
}

/** Attempts at a stale lock before giving up (another run's takeover is waited for a moment each time). */
const TAKEOVER_ATTEMPTS = 50;

/**
 * Replaces the stale lock `path` (whose text was `seen`) by ours; false where another run is taking it over or has.
 * Two runs that both read the stale pid must not both take over (a trial ran six at once on a dead pid's lock: two
 * held it in 8 of 15 tries, the second having removed the first's new lock), so the takeover runs under a guard file
 * created exclusively, and under it the lock is read again and replaced only if it is still the one seen stale.
 */
function takeOver(path: string, seen: string): boolean {
  const guard = `${path}.takeover`;
  let fd: number;
  try {
    fd = openSync(guard, "wx");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") guardWrite(guard, () => { throw error; });
    // Another run is taking it over. A guard left by a run killed mid-takeover (its pid gone) is removed.
    const owner = Number.parseInt(readLock(guard), 10);
    if (!(Number.isInteger(owner) && owner > 0 && alive(owner)) && Date.now() - mtime(guard) > 1000) rmSync(guard, { force: true });
    else pause(20);
    return false;
  }
  try {
    writePid(guard, fd);
    if (readLock(path) !== seen) return false;
    rmSync(path, { force: true });
    try {
      fd = openSync(path, "wx");
    } catch (error) {
      // Created meanwhile by a run that never saw the stale lock: the next attempt finds it.
      if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
      return guardWrite(path, () => { throw error; });
    }
    writePid(path, fd);
    return true;
  } finally {
    rmSync(guard, { force: true });
  }
}

function writePid(path: string, fd: number): void {
  guardWrite(path, () => {
    writeSync(fd, `${process.pid}\n`);
    closeSync(fd);
  });
}

/** Blocks this thread for `ms` milliseconds (a lock is taken synchronously). */
function pause(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function readLock(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

function mtime(path: string): number {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

/**
 * Whether process `pid` still runs. A zombie (exited, not yet reaped by its parent: after `kill -9`, under an init that
 * reaps slowly) answers signal 0 like a live process but holds nothing: on Linux its /proc state (Z, or X while it is
 * removed) says it is gone. Elsewhere, or where /proc cannot be read, signal 0 decides.
 */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
  return !exited(pid);
}

/**
 * Whether /proc/<pid>/stat shows the process exited (state Z or X). The state follows the command name in
 * parentheses, which may itself hold ") "; false where the file cannot be read.
 */
function exited(pid: number): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return false;
  }
  const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
  return state === "Z" || state === "X";
}

