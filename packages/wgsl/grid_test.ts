import assert from "node:assert/strict";
import { DEFAULT_MAX_WORKGROUPS, grid1d, gridRows } from "./mod.ts";

Deno.test("grid1d covers n invocations within the limit, rows as even as possible", () => {
  for (const max of [7, 100, DEFAULT_MAX_WORKGROUPS]) {
    for (const wg of [1, 64, 256]) {
      for (const groups of [1, 2, max - 1, max, max + 1, 2 * max, 2 * max + 1, 5 * max - 3]) {
        const n = groups * wg - (wg > 1 ? 1 : 0);
        const [x, y, z] = grid1d(n, wg, max);
        const what = `grid1d(${n}, ${wg}, ${max}) = ${[x, y, z]}`;
        assert(x <= max && y <= max && z === 1, what);
        assert(x * y * wg >= n, what);
        // Fewer than one row of workgroups idles past the end.
        assert(x * y - groups < y, what);
      }
    }
  }
  assert.deepEqual(grid1d(0, 64), [1, 1, 1]);
});

Deno.test("gridRows keeps x and splits the rows over y then z", () => {
  for (const max of [5, DEFAULT_MAX_WORKGROUPS]) {
    for (const rows of [1, max, max + 1, 3 * max]) {
      const [x, y, z] = gridRows(3, rows, max);
      assert.equal(x, 3);
      assert(y <= max && z <= max && y * z >= rows && y * (z - 1) < rows, `${rows} ${max}`);
    }
  }
});
