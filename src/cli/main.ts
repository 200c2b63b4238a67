/** The `lesion` command: each subcommand parses flags, calls the library verb of the same name, renders the result. */
import { Command, CommanderError } from "commander";
import { createRequire } from "node:module";
import { basename } from "node:path";
import { formatError, isLesionError } from "../errors.js";
import { registerAblate } from "./ablate.js";
import { registerCharacterize } from "./characterize.js";
import { registerEval } from "./eval.js";
import { registerExplore } from "./explore.js";
import { registerImport } from "./import.js";
import { registerInfo } from "./info.js";
import { registerRecord } from "./record.js";
import { registerRecover } from "./recover.js";
import { registerStudy } from "./study.js";
import { registerTrain } from "./train.js";

const { version } = createRequire(import.meta.url)("../../package.json") as { version: string };

export function buildProgram(): Command {
  const program = new Command("lesion")
    .description("lesion studies of trained neural networks: record, ablate, characterise, recover")
    .version(version)
    .exitOverride()
    .configureOutput({ writeErr: (text) => process.stderr.write(text) });
  registerInfo(program);
  registerEval(program);
  registerImport(program);
  registerRecord(program);
  registerAblate(program);
  registerCharacterize(program);
  registerTrain(program);
  registerRecover(program);
  registerStudy(program);
  registerExplore(program);
  for (const command of program.commands) command.exitOverride();
  return program;
}

/** Runs the CLI; returns the exit code: 0 ok, 1 user error, 2 usage error, 70 internal error. */
export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv, { from: "user" });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    process.stderr.write(`lesion: ${cliMessage(error, argv)}\n`);
    if (!isLesionError(error) && process.env.LESION_DEBUG === "1") process.stderr.write(`${(error as Error).stack}\n`);
    return isLesionError(error) ? 1 : 70;
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
    const quoted = /^[\w./@:+-]+$/.test(path) ? path : `'${path.replace(/'/g, "'\\''")}'`;
    return `${path} is a PyTorch checkpoint; make a model with \`lesion import ${quoted} --arch … -o model.onnx\``;
  }
  return formatError(error);
}
