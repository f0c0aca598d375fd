/**
 * `@vmunet/vmunet/training`: what a run of VM-UNet needs beyond the model, on any WebGPU
 * runtime (Deno or a browser): the training loop ({@linkcode TrainingLoop}: steps, epochs,
 * the cosine schedule, loss readbacks, validation and model selection, with checkpoint hooks
 * the caller implements and a stop signal), the official evaluation protocol (pooled binary
 * metrics, per-class Dice/HD95, Synapse volumes) and the segmentation of one decoded image as
 * `deno task predict` does it.
 *
 * @module
 */

export * from "./infer.ts";
export * from "./evaluate.ts";
export * from "./segment.ts";
export * from "./loop.ts";
