/** The `lesion` command: each subcommand parses flags, calls the library verb of the same name, renders the result. */
import type * as Commander from "commander";
import { createRequire } from "node:module";
import { basename } from "node:path";
import { isLesionError } from "../errors.js";
import { describeWriteFault, shellWord } from "../files.js";
import { flagMessage } from "./flagMessage.js";

/**
 * Each command's module, imported only when that command runs (or for help): the whole set pulls in the report's
 * plotting, t-SNE/UMAP and clustering libraries, which made every command start ~0.3 s later. In help order.
 */
const COMMANDS: Record<string, () => Promise<(program: Command) => void>> = {
  info: async () => (await import("./info.js")).registerInfo,
  eval: async () => (await import("./eval.js")).registerEval,
  import: async () => (await import("./import.js")).registerImport,
  record: async () => (await import("./record.js")).registerRecord,
  ablate: async () => (await import("./ablate.js")).registerAblate,
  characterize: async () => (await import("./characterize.js")).registerCharacterize,
  train: async () => (await import("./train.js")).registerTrain,
  recover: async () => (await import("./recover.js")).registerRecover,
  transplant: async () => (await import("./transplant.js")).registerTransplant,
  study: async () => (await import("./study.js")).registerStudy,
  explore: async () => (await import("./explore.js")).registerExplore,
};
/** Commands registered by another command's module. */
const ALIASES: Record<string, string> = { report: "study" };

const require = createRequire(import.meta.url);
// require, not import: commander's ESM entry re-exports its CommonJS build, which Node's ESM loader would scan first.
const { Command, CommanderError } = require("commander") as typeof Commander;
type Command = Commander.Command;
const { version } = require("../../package.json") as { version: string };

/** The program with the command `argv` names registered, or every command when it names none (help, version, typos). */
export async function buildProgram(argv: readonly string[] = []): Promise<Command> {
  const program = new Command("lesion")
    .description("lesion studies of trained neural networks: record, ablate, characterise, recover, transplant")
    .version(version)
    .exitOverride()
    // Usage errors in lesion's one-line form too ("lesion: required option …"), exit code 2; commander's suggestion
    // ("(Did you mean --units?)" on a line of its own) joins the line.
    .configureOutput({ writeErr: (text) => process.stderr.write(text), outputError: (text, write) => write(usageLine(text)) });
  const first = argv[0] !== undefined && Object.hasOwn(ALIASES, argv[0]) ? ALIASES[argv[0]] : argv[0];
  // --version needs no command; help, typos and no command at all list them all.
  const named = first === "--version" || first === "-V" ? [] : first !== undefined && Object.hasOwn(COMMANDS, first) ? [first] : Object.keys(COMMANDS);
  for (const register of await Promise.all(named.map((name) => COMMANDS[name]()))) register(program);
  for (const command of program.commands) {
    command.exitOverride();
    unknownBeforeMissing(command);
  }
  return program;
}

/** Commander's error text as one `lesion: …` line. */
function usageLine(text: string): string {
  const [first, ...rest] = text.trim().replace(/^error: /, "").split("\n");
  const hint = rest.join(" ").trim().replace(/^\(Did you mean/, "(did you mean");
  return `lesion: ${first}${hint ? ` ${hint}` : ""}\n`;
}

/**
 * A misspelt flag is named before the required option it failed to give: commander checks required options first, so
 * `ablate … --sites h0` said "required option '--site <names>' not specified" and never that `--sites` is unknown
 * (nor "did you mean --site?"). The check moves to just before the action, after commander's check for unknown options.
 */
function unknownBeforeMissing(command: Command): void {
  const required = command.options.filter((option) => option.mandatory);
  for (const option of required) option.mandatory = false;
  command.hook("preAction", () => {
    for (const option of required) {
      if (command.getOptionValue(option.attributeName()) === undefined) command.error(`required option '${option.flags}' not specified`, { code: "commander.missingMandatoryOptionValue", exitCode: 2 });
    }
  });
}

/** Runs the CLI; returns the exit code: 0 ok, 1 user error, 2 usage error, 70 internal error. */
export async function main(argv: string[]): Promise<number> {
  // Output that cannot be written (stdout on a full disk, a closed terminal) is one line and exit 1, not Node's stack
  // of an unhandled 'error' event, nor success with the output lost. A reader that stopped early (`| head`) is no fault.
  let stdoutError: NodeJS.ErrnoException | null = null;
  process.stdout.on("error", (error: NodeJS.ErrnoException) => void (stdoutError ??= error));
  const unwritten = async (): Promise<number | null> => {
    // The stream reports a failed write on a later tick.
    await new Promise((resolve) => setImmediate(resolve));
    const error = stdoutError as NodeJS.ErrnoException | null;
    if (!error || error.code === "EPIPE") return null;
    process.stderr.write(`lesion: cannot write to standard output: ${describeWriteFault(error.code ?? "")} (${error.code})\n`);
    return 1;
  };
  try {
    await (await buildProgram(argv)).parseAsync(argv, { from: "user" });
    return (await unwritten()) ?? 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    process.stderr.write(`lesion: ${cliMessage(error, argv)}\n`);
    if (!isLesionError(error) && process.env.LESION_DEBUG === "1") process.stderr.write(`${(error as Error).stack}\n`);
    // An interrupted run exits as a shell's interrupted command does (128 + SIGINT), so a script can tell it from a fault.
    return isLesionError(error) ? (error.code === "aborted" ? 130 : 1) : 70;
  }
}

/**
 * The library's message, or where the library names a verb for the fix, the command that runs it: a PyTorch
 * checkpoint given as a model gets the `lesion import` command line.
 */
function cliMessage(error: unknown, argv: string[]): string {
  if (isLesionError(error) && error.code === "bad-model" && ["zip", "legacy", "safetensors"].includes(String(error.details.checkpoint))) {
    const name = String(error.details.name);
    // Messages name a model by its file name; the command line needs the path the user typed.
    const path = argv.find((arg) => arg === name || basename(arg) === name) ?? name;
    const quoted = shellWord(path);
    return `${path} is a PyTorch checkpoint; make a model with \`lesion import ${quoted} --arch … -o model.onnx\``;
  }
  // The commands that keep finished work say how to get it back.
  const keeps = ["ablate", "study", "recover"].includes(argv[0]) || (argv[0] === "train" && argv.includes("--epoch-state"));
  if (isLesionError(error) && error.code === "aborted" && keeps) {
    // ablate keeps whole blocks of conditions (a trial's Ctrl-C after 12 s had kept none, and was told otherwise).
    const { kept, of, helpers } = error.details as { kept?: number; of?: number; helpers?: number };
    if (argv[0] === "ablate" && kept === 0) return `${error.message} before its first block of conditions finished: nothing is kept, so the same command starts again`;
    // The count includes the singles that pairs' redundancy needs, as the progress does; the final line reports them apart.
    const among = helpers ? ` (${of! - helpers} asked for and ${helpers} single unit(s) the pairs' redundancy needs)` : "";
    if (argv[0] === "ablate" && kept !== undefined) return `${error.message}; ${kept} of ${of} conditions${among} are kept: the same command resumes from them`;
    return `${error.message}; what finished is kept: the same command resumes it`;
  }
  return flagMessage(error);
}
