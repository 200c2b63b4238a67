/** The CLI's spelling of library messages: options named in backticks and listed in details become flags. */
import { describe, expect, it } from "vitest";
import { LesionError } from "../../src/errors.js";
import { flagMessage, flagOf, optionOf, warningLine } from "../../src/cli/flagMessage.js";
import { parseInteger, parseList, parseNumberList } from "../../src/cli/common.js";

describe("flagMessage", () => {
  it("flagMessage(bad-option naming `batchSize` and `epochs`) writes --batch-size and --epochs; options not listed keep their backticks", () => {
    const error = new LesionError("bad-option", "`epochs` and `batchSize` must be at least 1 (`seed` is fine)", { options: ["epochs", "batchSize"] });
    expect(flagMessage(error)).toBe("--epochs and --batch-size must be at least 1 (`seed` is fine)");
    expect(error.message).toBe("`epochs` and `batchSize` must be at least 1 (`seed` is fine)");
  });

  it("flagMessage of a code without options, and of a non-LesionError, is formatError's line", () => {
    expect(flagMessage(new LesionError("missing-file", "model not found: a.onnx", { path: "a.onnx" }))).toBe("model not found: a.onnx");
    expect(flagMessage(new Error("boom\nat x"))).toBe("internal error: boom at x");
  });

  it("warningLine writes every option a warning names in backticks as its flag, and leaves other quoted text", () => {
    expect(warningLine("retraining made the network worse: give a smaller `recoverLr` (0.1 now); give `test` another set; `lesion report out`")).toBe(
      "lesion: warning: retraining made the network worse: give a smaller --recover-lr (0.1 now); give --test another set; `lesion report out`",
    );
  });

  it("flagOf/optionOf convert between camelCase options and kebab-case flags", () => {
    expect([flagOf("inputShape"), flagOf("lr"), flagOf("recoverData")]).toEqual(["--input-shape", "--lr", "--recover-data"]);
    expect([optionOf("--input-shape"), optionOf("--lr"), optionOf("--budget-samples")]).toEqual(["inputShape", "lr", "budgetSamples"]);
  });

  it("the CLI's value parsers name the library's option in details.options (batchSize for --batch-size), as a library error does", async () => {
    const optionsOf = (run: () => unknown) => {
      try {
        run();
      } catch (error) {
        return (error as LesionError).details;
      }
      return null;
    };
    expect(optionsOf(() => parseInteger("x", "--batch-size"))).toEqual({ options: ["batchSize"], value: "x" });
    expect(optionsOf(() => parseNumberList("1,a", "--mean"))).toEqual({ options: ["mean"], value: "1,a" });
    expect(optionsOf(() => parseList(",", "--sites"))).toEqual({ options: ["sites"], value: "," });
  });
});
