/**
 * Library messages name options as the library spells them, in backticks (`batchSize`), and list them in the error's
 * `details.options`, and warnings name them the same way; the CLI puts its flags in their place (`--batch-size`). Flags
 * are the kebab-case of option names.
 */
import { formatError, isLesionError } from "../errors.js";

/** The flag that sets an option: `batchSize` → `--batch-size`. */
export function flagOf(option: string): string {
  return `--${option.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

/** The option a flag sets: `--batch-size` → `batchSize`. */
export function optionOf(flag: string): string {
  return flag.replace(/^--/, "").replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** The one-line message of any error, with the options a LesionError names written as the CLI's flags. */
export function flagMessage(error: unknown): string {
  const message = formatError(error);
  if (!isLesionError(error)) return message;
  const options = "options" in error.details ? error.details.options : undefined;
  return (options ?? []).reduce((text, option) => text.split(`\`${option}\``).join(flagOf(option)), message);
}

/** A library warning as the CLI prints it: `lesion: warning: …`, each option named in backticks as its flag. */
export function warningLine(message: string): string {
  return `lesion: warning: ${message.replace(/`(\w+)`/g, (_, option: string) => flagOf(option))}`;
}
