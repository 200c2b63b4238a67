/** Where downloaded data sets are kept. */
import { homedir } from "node:os";
import { join } from "node:path";

/** $LESION_CACHE_DIR, else $XDG_CACHE_HOME/lesion, else ~/.cache/lesion. Empty variables count as unset. */
export function defaultCacheDir(env: Record<string, string | undefined> = process.env): string {
  if (env.LESION_CACHE_DIR) return env.LESION_CACHE_DIR;
  if (env.XDG_CACHE_HOME) return join(env.XDG_CACHE_HOME, "lesion");
  return join(homedir(), ".cache", "lesion");
}
