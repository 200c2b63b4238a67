/** Where downloaded data sets, the default model and stimulus maps are kept. */
import { homedir } from "node:os";
import { join } from "node:path";
import { checkWritableDir } from "../files.js";

/** $LESION_CACHE_DIR, else $XDG_CACHE_HOME/lesion, else ~/.cache/lesion. Empty variables count as unset. */
export function defaultCacheDir(env: Record<string, string | undefined> = process.env): string {
  if (env.LESION_CACHE_DIR) return env.LESION_CACHE_DIR;
  if (env.XDG_CACHE_HOME) return join(env.XDG_CACHE_HOME, "lesion");
  return join(homedir(), ".cache", "lesion");
}

/**
 * Checks, before the work whose result goes there starts (a download, training the default model, a stimulus map),
 * that `dir` inside the cache can be written, creating it if missing. Throws `unwritable-path` naming the directory
 * and how to choose another ($LESION_CACHE_DIR), so no work is computed and then lost.
 */
export function checkCacheDir(dir: string): void {
  checkWritableDir(dir, "cache directory", "set LESION_CACHE_DIR to a writable directory");
}
