/**
 * `deno task train`: the training loop of VM-UNet with the official protocol (AdamW, periodic
 * cosine schedule stepped per epoch, BceDice / CeDice, model selection), run folders that
 * lose nothing (atomic checkpoints, bit-for-bit `--resume`, Ctrl-C saves), live progress and
 * a report.
 *
 * The steps: {@linkcode resolveTrainInvocation} (configuration and run folder, in
 * `invocation.ts`), the data, the run folder, then a {@linkcode Trainer} (`trainer.ts`) sets up
 * the model and runs the shared training loop; a diverged run is reported here.
 *
 * @module
 */

import { NonFiniteLossError, TrainingDataError } from "@vmunet/vmunet/training";
import type { TrainArgs } from "./cli.ts";
import type { Io } from "./io.ts";
import { resolveTrainInvocation } from "./invocation.ts";
import { checkPretrained, modelConfigOf } from "./model_io.ts";
import { prepareRunDir, writeAtomic } from "./run_dir.ts";
import { Trainer, type TrainResult, type TrainRunOptions } from "./trainer.ts";
import { divergenceAdvice, type TrainConfig, UsageError } from "./train_config.ts";

export { NonFiniteLossError } from "@vmunet/vmunet/training";
export type { StepInfo, StepModel } from "@vmunet/vmunet/training";
export { resolveTrainInvocation } from "./invocation.ts";
export { EXIT_INTERRUPTED, type TrainResult, type TrainRunOptions } from "./trainer.ts";

/** Exit code of a run stopped by a NaN or infinite loss. */
export const EXIT_NON_FINITE = 3;

/**
 * Runs `train`: resolves the configuration, checks the data and the run folder, then trains.
 *
 * @param args Parsed arguments.
 * @param io Output sink.
 * @param options Stop signal and test hooks.
 * @returns The exit code and the run folder.
 * @throws {UsageError}, {@linkcode RunDirError}, dataset or checkpoint errors before training.
 */
export async function runTrain(
  args: TrainArgs,
  io: Io,
  options: TrainRunOptions = {},
): Promise<TrainResult> {
  const { config, runDir } = await resolveTrainInvocation(args);
  const trainer = new Trainer(config, runDir, io, options);
  try {
    // Data first (a missing folder or a bad layout), then the run folder, then the GPU.
    await trainer.openData();
    if (config.pretrained && !args.resume) {
      await checkPretrained(config.pretrained, modelConfigOf(config));
    }
    const resuming = await prepareRunDir(runDir, {
      resume: args.resume,
      force: args.force,
      minFreeBytes: minFreeBytes(config),
      note: (line) => trainer.line(line),
    });
    if (!resuming) await writeConfig(runDir, config);
    await trainer.setup(resuming);
    if (trainer.state.epoch >= config.epochs) {
      trainer.line(
        `${runDir} already finished ${trainer.state.epoch} epochs; raise --epochs to continue`,
      );
      return { code: 0, runDir };
    }
    if (resuming) await writeConfig(runDir, config);
    return await trainer.run();
  } catch (error) {
    if (error instanceof TrainingDataError) throw new UsageError(error.message);
    if (error instanceof NonFiniteLossError) return await diverged(trainer, error);
    throw error;
  } finally {
    await trainer.close();
  }
}

/** Room a run folder needs: three checkpoints' worth (a rough size by model), 64 MiB at least. */
function minFreeBytes(config: TrainConfig): number {
  const paramsGuess = 4 * 3 * 2 ** 20 * (config.model === "vmunet-s" ? 28 : 2);
  return Math.max(64 * 2 ** 20, 3 * paramsGuess);
}

async function writeConfig(runDir: string, config: TrainConfig): Promise<void> {
  await writeAtomic(`${runDir}/config.json`, JSON.stringify(config, null, 2) + "\n");
}

/** Reports a NaN or infinite loss: what was kept, advice, and an `error` record in the log. */
async function diverged(trainer: Trainer, error: NonFiniteLossError): Promise<TrainResult> {
  trainer.progress.done();
  const state = trainer.state;
  const saved = state.epoch > 0 || state.stepInEpoch > 0;
  const keep = saved
    ? `the last good checkpoint ${trainer.lastPath} (epoch ${state.epoch}) is kept`
    : "no checkpoint was written yet";
  const advice = divergenceAdvice(trainer.config, saved, trainer.runName);
  const message = `${error.message}: stopped; ${keep}. ${advice}`;
  trainer.io.error(`error: ${message}`);
  await trainer.log.failed(trainer.state?.epoch, message).catch(() => {});
  return { code: EXIT_NON_FINITE, runDir: trainer.runDir };
}
