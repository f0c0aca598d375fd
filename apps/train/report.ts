/**
 * `runs/<name>/report.html`: one self-contained page with the loss and metric curves (inline
 * SVG) and a grid of validation images with their ground truth and prediction overlays.
 *
 * @module
 */

import type { EvaluationExample } from "@vmunet/vmunet/training";

/** One named curve: y values per epoch. */
export interface Series {
  /** Legend name. */
  name: string;
  /** Points (x = epoch). */
  points: [number, number][];
}

/** A validation example shown in the report (the evaluation's example). */
export type ReportExample = EvaluationExample;

const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"];

function escapeHtml(text: string): string {
  return text.replace(
    /[&<>"]/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!,
  );
}

/**
 * Draws line charts of `series` as an SVG string (shared axes, legend).
 *
 * @param title Chart title.
 * @param series Curves to draw.
 * @returns The `<svg>` element.
 */
export function lineChartSvg(title: string, series: Series[]): string {
  const w = 460, h = 260, left = 52, right = 12, top = 28, bottom = 34;
  const all = series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x + y));
  if (all.length === 0) {
    return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}"><text x="10" y="20">${
      escapeHtml(title)
    }: no data yet</text></svg>`;
  }
  const xs = all.map((p) => p[0]);
  const ys = all.map((p) => p[1]);
  const [x0, x1] = [
    Math.min(...xs),
    Math.max(...xs) === Math.min(...xs) ? Math.min(...xs) + 1 : Math.max(...xs),
  ];
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (y0 === y1) [y0, y1] = [y0 - 0.5, y1 + 0.5];
  const sx = (x: number) => left + ((x - x0) / (x1 - x0)) * (w - left - right);
  const sy = (y: number) => top + (1 - (y - y0) / (y1 - y0)) * (h - top - bottom);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" font-family="sans-serif" font-size="11">`,
    `<text x="${left}" y="16" font-size="13" font-weight="bold">${escapeHtml(title)}</text>`,
    `<line x1="${left}" y1="${h - bottom}" x2="${w - right}" y2="${h - bottom}" stroke="#888"/>`,
    `<line x1="${left}" y1="${top}" x2="${left}" y2="${h - bottom}" stroke="#888"/>`,
  ];
  for (let i = 0; i <= 4; i++) {
    const y = y0 + ((y1 - y0) * i) / 4;
    parts.push(
      `<text x="${left - 4}" y="${sy(y) + 4}" text-anchor="end">${y.toPrecision(3)}</text>`,
      `<line x1="${left}" y1="${sy(y)}" x2="${w - right}" y2="${sy(y)}" stroke="#eee"/>`,
    );
  }
  parts.push(
    `<text x="${left}" y="${h - 8}">epoch ${x0}</text>`,
    `<text x="${w - right}" y="${h - 8}" text-anchor="end">${x1}</text>`,
  );
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    const d = s.points.filter(([x, y]) => Number.isFinite(x + y))
      .map(([x, y], j) => `${j ? "L" : "M"}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join("");
    parts.push(
      `<path d="${d}" fill="none" stroke="${color}" stroke-width="1.8"/>`,
      `<text x="${w - right - 4}" y="${top + 14 * (i + 1)}" text-anchor="end" fill="${color}">${
        escapeHtml(s.name)
      }</text>`,
    );
  });
  parts.push("</svg>");
  return parts.join("");
}

function dataUri(png: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < png.length; i += 0x8000) {
    binary += String.fromCharCode(...png.subarray(i, i + 0x8000));
  }
  return `data:image/png;base64,${btoa(binary)}`;
}

/**
 * Renders the report page.
 *
 * @param title Run name.
 * @param summary Key/value lines shown at the top (adapter, model, data, best epoch…).
 * @param charts Charts as `[title, series]`.
 * @param examples Validation examples.
 * @returns The HTML document.
 */
export function renderReport(
  title: string,
  summary: Record<string, string>,
  charts: [string, Series[]][],
  examples: ReportExample[],
): string {
  const rows = Object.entries(summary)
    .map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`).join("");
  const grid = examples.map((e) =>
    `<figure><img src="${dataUri(e.image)}" alt="image"><img src="${
      dataUri(e.truth)
    }" alt="truth"><img src="${dataUri(e.prediction)}" alt="prediction"><figcaption>${
      escapeHtml(e.name)
    }${e.dice === undefined ? "" : ` · Dice ${e.dice.toFixed(3)}`}</figcaption></figure>`
  ).join("");
  return `<!doctype html><html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>body{font-family:sans-serif;margin:24px;color:#222}table{border-collapse:collapse}
th{text-align:left;padding:2px 12px 2px 0;color:#555}.charts{display:flex;flex-wrap:wrap;gap:12px}
figure{display:inline-block;margin:6px;text-align:center}figure img{width:128px;height:128px;
image-rendering:pixelated;margin:1px}figcaption{font-size:12px}</style></head><body>
<h1>${escapeHtml(title)}</h1><table>${rows}</table>
<h2>Curves</h2><div class="charts">${charts.map(([t, s]) => lineChartSvg(t, s)).join("")}</div>
<h2>Validation examples</h2><p>image · ground truth · prediction</p><div>${grid}</div>
</body></html>
`;
}
