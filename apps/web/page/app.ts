/**
 * The VM-UNet web page: load a checkpoint, segment images, train the default run — wired to
 * the DOM of `index.html`. `globalThis.vmunetWeb` exposes the page's state to tests and to
 * the console.
 *
 * @module
 */

import { disposeModel, loadCheckpoint, type PageModel } from "./checkpoint.ts";
import { catchUncaught, clearErrors, describeError, guarded, showError } from "./errors.ts";
import { goldenLogits } from "./golden.ts";
import { adapterLine, getEngine } from "./gpu.ts";
import {
  download,
  pairFiles,
  resultCard,
  type SegmentedImage,
  segmentFile,
} from "./segment_view.ts";
import { curvesSvg, pageTrainConfig, type PageTrainHistory, trainInPage } from "./train_view.ts";

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

let current: PageModel | null = null;
let trainedCheckpoint: Uint8Array | null = null;
let lastHistory: PageTrainHistory | null = null;
const results: SegmentedImage[] = [];
let busy: Promise<unknown> = Promise.resolve();

/** Runs actions one after another (the GPU queue is shared). */
function queue<T>(context: string, action: () => Promise<T>): Promise<T | undefined> {
  const next = busy.then(() => guarded(context, action));
  busy = next;
  return next;
}

function setModel(m: PageModel): void {
  if (current && current.model !== m.model) disposeModel(current.model);
  current = m;
  const c = m.config;
  const dims = typeof c.dims === "number" ? c.dims : c.dims[0];
  $("model-status").textContent =
    `${m.source}: VM-UNet dims ${dims}, depths ${c.depths} / ${c.depthsDecoder}, d_state ${c.dState}, ${c.numClasses} class(es), ${c.inChannels} input channel(s), ` +
    `${m.model.parameterCount.toLocaleString("en-US")} parameters` +
    (m.epoch !== undefined ? `, epoch ${m.epoch}` : "") + `; ${m.sizeNote}`;
  const report = $("model-report");
  report.hidden = false;
  report.textContent = m.report;
  $<HTMLInputElement>("input-size").value = String(m.imageSize);
}

function onDrop(zone: HTMLElement, handle: (files: File[]) => void): void {
  zone.addEventListener("dragover", (e) => {
    e.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    handle([...(e.dataTransfer?.files ?? [])]);
  });
}

function loadCheckpointFile(file: File): Promise<unknown> {
  clearErrors();
  $("model-status").textContent = `loading ${file.name}…`;
  return queue(`loading ${file.name}`, async () => {
    try {
      const engine = await getEngine();
      const bytes = new Uint8Array(await file.arrayBuffer());
      setModel(
        await loadCheckpoint(engine, bytes, file.name, $<HTMLInputElement>("strict").checked),
      );
    } catch (error) {
      $("model-status").textContent = `${file.name} was not loaded (see the error above)`;
      throw error;
    }
  });
}

function segmentFiles(files: File[]): Promise<unknown> {
  clearErrors();
  return queue("segmenting", async () => {
    if (!current) throw new Error("load a checkpoint (or train a model) first");
    const size = Number($<HTMLInputElement>("input-size").value);
    if (!Number.isInteger(size) || size < 32 || size % 32 !== 0) {
      throw new Error(`input size ${size} must be a multiple of 32`);
    }
    const threshold = Number($<HTMLInputElement>("threshold").value);
    for (const { image, truth } of pairFiles(files)) {
      const r = await guarded(
        `segmenting ${image.name}`,
        () => segmentFile(current!, image, truth, size, threshold),
      );
      if (!r) continue;
      results.push(r);
      const card = resultCard(r);
      $("results").prepend(card);
      applyOpacity();
    }
  });
}

function applyOpacity(): void {
  const value = $<HTMLInputElement>("opacity").value;
  for (const c of document.querySelectorAll<HTMLCanvasElement>("canvas.mask")) {
    c.style.opacity = value;
  }
}

function trainSettings() {
  const n = (id: string) => Number($<HTMLInputElement>(id).value);
  return {
    epochs: n("train-epochs"),
    syntheticCount: n("train-count"),
    syntheticValCount: n("train-val-count"),
    imageSize: n("train-size"),
    dims: n("train-dims"),
  };
}

function setupTraining(): void {
  const defaults = pageTrainConfig();
  $<HTMLInputElement>("train-epochs").value = String(defaults.epochs);
  $<HTMLInputElement>("train-count").value = String(defaults.syntheticCount);
  $<HTMLInputElement>("train-val-count").value = String(defaults.syntheticValCount);
  $<HTMLInputElement>("train-size").value = String(defaults.imageSize);
  $<HTMLInputElement>("train-dims").value = String(defaults.dims);
  const start = $<HTMLButtonElement>("train-start");
  const stop = $<HTMLButtonElement>("train-stop");
  const save = $<HTMLButtonElement>("train-save");
  const status = $("train-status");
  let controller: AbortController | null = null;
  start.onclick = () => {
    clearErrors();
    controller = new AbortController();
    start.disabled = true;
    stop.disabled = false;
    status.dataset.state = "running";
    queue("training", async () => {
      try {
        const config = pageTrainConfig(trainSettings());
        const engine = await getEngine();
        const result = await trainInPage(engine, config, controller!.signal, {
          status: (text) => (status.textContent = text),
          curves: (h) => {
            lastHistory = h;
            $("curves").innerHTML = curvesSvg(h);
          },
        });
        lastHistory = result.history;
        trainedCheckpoint = result.checkpoint;
        setModel(result.model);
        save.disabled = false;
        status.textContent = `${result.model.report}; the trained model now segments`;
      } finally {
        start.disabled = false;
        stop.disabled = true;
        status.dataset.state = "done";
      }
    });
  };
  stop.onclick = () => {
    controller?.abort();
    stop.disabled = true;
    status.textContent += " — stopping after this step…";
  };
  save.onclick = () => {
    if (trainedCheckpoint) download(trainedCheckpoint, "vmunet-page.safetensors");
  };
}

async function showAdapter(): Promise<void> {
  const el = $("adapter");
  try {
    el.textContent = `WebGPU: ${adapterLine(await getEngine())}`;
    el.dataset.state = "ok";
  } catch (error) {
    el.textContent = "WebGPU: unavailable";
    el.dataset.state = "none";
    showError(error);
  }
}

function bytesToBase64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

/** What tests and the console can reach. */
const api = {
  /** Resolves when pending actions are done. */
  idle: (): Promise<unknown> => busy,
  /** Segmented images: name, mask PNG and probabilities (base64), milliseconds, scores. */
  results: () =>
    results.map((r) => ({
      name: r.name,
      maskPng: bytesToBase64(r.maskPng),
      probabilities: r.segmentation.probabilities
        ? bytesToBase64(new Uint8Array(r.segmentation.probabilities.buffer))
        : null,
      milliseconds: r.milliseconds,
      scores: r.scores,
    })),
  /** The last training run's curves. */
  history: (): PageTrainHistory | null => lastHistory,
  /** The trained checkpoint (base64). */
  trainedCheckpoint: () => (trainedCheckpoint ? bytesToBase64(trainedCheckpoint) : null),
  /** Golden fixture logits computed in the page. */
  goldenLogits,
  /** The text shown for an error. */
  describeError,
};
(globalThis as unknown as { vmunetWeb: typeof api }).vmunetWeb = api;

function main(): void {
  catchUncaught();
  onDrop($("checkpoint-drop"), (files) => files[0] && loadCheckpointFile(files[0]));
  $<HTMLInputElement>("checkpoint-file").onchange = (e) => {
    const input = e.target as HTMLInputElement;
    const file = input.files?.[0];
    if (file) loadCheckpointFile(file);
    input.value = ""; // the same file may be chosen again (e.g. after unticking "strict")
  };
  onDrop($("image-drop"), (files) => segmentFiles(files));
  $<HTMLInputElement>("image-file").onchange = (e) => {
    const input = e.target as HTMLInputElement;
    segmentFiles([...(input.files ?? [])]);
    input.value = "";
  };
  $("opacity").oninput = applyOpacity;
  setupTraining();
  void showAdapter();
  document.body.dataset.ready = "true";
}

try {
  main();
} catch (error) {
  showError(error, "starting the page");
}
