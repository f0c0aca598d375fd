import assert from "node:assert/strict";
import { Engine } from "../engine.ts";
import type { Tensor } from "../tensor.ts";
import { ShapeError } from "../tensor_errors.ts";
import {
  conv1x1BackwardRef,
  conv1x1Ref,
  depthwiseConv3x3BackwardRef,
  depthwiseConv3x3Ref,
  patchifyConvBackwardRef,
  patchifyConvRef,
} from "../reference/nn_ops.ts";
import { convConfig } from "./_conv.ts";
import { conv1x1 } from "./conv_1x1.ts";
import { depthwiseConv3x3, depthwiseConv3x3Silu } from "./conv_depthwise.ts";
import { patchifyConv } from "./conv_patchify.ts";
import { assertClose, normals } from "../_testing.ts";

const engine = await Engine.create();
const prod = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/** A conv's inputs, the seed of its backward, and the float64 answers. */
interface ConvCase {
  /** Names the case in failure messages. */
  tag: string;
  x: Float64Array;
  xShape: number[];
  w: Float64Array;
  wShape: number[];
  b: Float64Array;
  /** ∂L/∂y, the seed of the backward. */
  gy: Float64Array;
  yShape: number[];
  want: {
    y: ArrayLike<number>;
    dx: ArrayLike<number>;
    dw: ArrayLike<number>;
    db: ArrayLike<number>;
  };
}

/**
 * Runs `conv` forward and backward on the case and checks the output's shape and values and
 * the three gradients; `more` checks more with the same tensors before the scope ends.
 */
async function checkConv(
  conv: (x: Tensor, w: Tensor, b: Tensor) => Tensor,
  c: ConvCase,
  more?: (x: Tensor, w: Tensor, b: Tensor) => Promise<void>,
): Promise<void> {
  await engine.scope(async () => {
    const x = engine.tensor(c.x, c.xShape, { requiresGrad: true });
    const w = engine.tensor(c.w, c.wShape, { requiresGrad: true });
    const b = engine.tensor(c.b, [c.wShape[0]], { requiresGrad: true });
    const y = conv(x, w, b);
    assert.deepEqual(y.shape, c.yShape);
    y.backward(engine.tensor(c.gy, c.yShape));
    assertClose(await y.read(), c.want.y, 1e-5, 1e-5, `${c.tag} y`);
    assertClose(await x.grad!.read(), c.want.dx, 1e-5, 1e-5, `${c.tag} dx`);
    assertClose(await w.grad!.read(), c.want.dw, 1e-4, 1e-5, `${c.tag} dw`);
    assertClose(await b.grad!.read(), c.want.db, 1e-4, 1e-5, `${c.tag} db`);
    await more?.(x, w, b);
  });
}

/** A depthwise case on `shape`: x, w, b and ∂L/∂y from normal streams `stream`…`stream + 3`. */
function depthwiseCase(shape: number[], stream: number): Omit<ConvCase, "want"> {
  const C = shape[3];
  return {
    tag: `x [${shape}]`,
    x: normals(prod(shape), stream),
    xShape: shape,
    w: normals(C * 9, stream + 1),
    wShape: [C, 1, 3, 3],
    b: normals(C, stream + 2),
    gy: normals(prod(shape), stream + 3),
    yShape: shape,
  };
}

Deno.test("depthwiseConv3x3() matches the float64 reference forward and backward (vec4 and odd C)", async () => {
  // [2, 5, 64, 4] spans several row chunks of the weight-gradient kernel.
  for (const shape of [[2, 5, 6, 8], [1, 3, 7, 5], [3, 1, 1, 4], [2, 5, 64, 4]]) {
    const c = depthwiseCase(shape, 10);
    await checkConv(depthwiseConv3x3, {
      ...c,
      want: {
        y: depthwiseConv3x3Ref(c.x, shape, c.w, c.b),
        ...depthwiseConv3x3BackwardRef(c.x, shape, c.w, c.gy),
      },
    });
  }
});

Deno.test("depthwiseConv3x3Silu() is silu(depthwiseConv3x3) in float64, forward and backward, with and without the tape", async () => {
  const sig = (v: number) => 1 / (1 + Math.exp(-v));
  for (const shape of [[2, 5, 6, 8], [1, 3, 7, 5], [2, 5, 64, 4]]) {
    const c = depthwiseCase(shape, 20);
    const z = depthwiseConv3x3Ref(c.x, shape, c.w, c.b);
    const y = z.map((v) => v * sig(v));
    const gz = z.map((v, i) => c.gy[i] * sig(v) * (1 + v * (1 - sig(v))));
    const want = { y, ...depthwiseConv3x3BackwardRef(c.x, shape, c.w, gz) };
    await checkConv(depthwiseConv3x3Silu, { ...c, want }, async (x, w, b) => {
      const yEval = engine.noGrad(() => depthwiseConv3x3Silu(x, w, b));
      assertClose(await yEval.read(), y, 1e-5, 1e-5, `${c.tag} y without the tape`);
    });
  }
});

Deno.test("patchifyConv() matches the float64 reference, cropping like PyTorch (both variants)", async () => {
  for (const variant of ["matmul", "direct"] as const) {
    convConfig.variant = variant;
    for (
      const [shape, cout, k] of [[[2, 3, 8, 8], 5, 4], [[1, 2, 7, 5], 3, 2]] as [
        number[],
        number,
        number,
      ][]
    ) {
      const ci = shape[1];
      const xs = normals(prod(shape), 20),
        ws = normals(cout * ci * k * k, 21),
        bs = normals(cout, 22);
      const outShape = [shape[0], Math.floor(shape[2] / k), Math.floor(shape[3] / k), cout];
      const gs = normals(prod(outShape), 23);
      await checkConv(patchifyConv, {
        tag: `${variant} x [${shape}] k ${k}`,
        x: xs,
        xShape: shape,
        w: ws,
        wShape: [cout, ci, k, k],
        b: bs,
        gy: gs,
        yShape: outShape,
        want: {
          y: patchifyConvRef(xs, shape, ws, bs, cout, k),
          ...patchifyConvBackwardRef(xs, shape, ws, cout, k, gs),
        },
      });
    }
  }
  convConfig.variant = "matmul";
});

Deno.test("conv1x1() maps channels-last to NCHW and matches the float64 reference (both variants)", async () => {
  for (const variant of ["matmul", "direct"] as const) {
    convConfig.variant = variant;
    for (const [shape, cout] of [[[2, 3, 4, 6], 3], [[1, 5, 3, 1], 2]] as [number[], number][]) {
      const [B, H, W, ci] = shape;
      const xs = normals(prod(shape), 30), ws = normals(cout * ci, 31), bs = normals(cout, 32);
      const outShape = [B, cout, H, W];
      const gs = normals(prod(outShape), 33);
      await checkConv(conv1x1, {
        tag: `${variant} x [${shape}]`,
        x: xs,
        xShape: shape,
        w: ws,
        wShape: [cout, ci, 1, 1],
        b: bs,
        gy: gs,
        yShape: outShape,
        want: {
          y: conv1x1Ref(xs, shape, ws, bs, cout),
          ...conv1x1BackwardRef(xs, shape, ws, cout, gs),
        },
      });
    }
  }
  convConfig.variant = "matmul";
});

Deno.test("conv ops reject mismatched weights naming the op and the shapes", () => {
  engine.scope(() => {
    const x = engine.tensor(new Float32Array(2 * 4 * 4 * 3), [2, 4, 4, 3]);
    const w = engine.tensor(new Float32Array(4 * 9), [4, 1, 3, 3]);
    const b = engine.tensor(new Float32Array(4), [4]);
    assert.throws(
      () => depthwiseConv3x3(x, w, b),
      (e: unknown) =>
        e instanceof ShapeError &&
        /depthwiseConv3x3: weight must have shape \[3, 1, 3, 3\], got \[4, 1, 3, 3\]/.test(
          String(e),
        ),
    );
    const pw = engine.tensor(new Float32Array(4 * 2 * 2 * 2), [4, 2, 2, 2]);
    assert.throws(
      () => patchifyConv(x, pw, b),
      (e: unknown) =>
        e instanceof ShapeError && /patchifyConv: weight \[4, 2, 2, 2\]/.test(String(e)),
    );
    const cw = engine.tensor(new Float32Array(8), [2, 4, 1, 1]);
    assert.throws(
      () => conv1x1(x, cw, engine.tensor([0, 0], [2])),
      (e: unknown) =>
        e instanceof ShapeError && /conv1x1: weight must have shape \[2, 3, 1, 1\]/.test(String(e)),
    );
    const flat = engine.tensor(new Float32Array(3), [3]);
    assert.throws(
      () => conv1x1(flat, cw, b),
      (e: unknown) => e instanceof ShapeError && /rank 4/.test(String(e)),
    );
  });
});

Deno.test("conv tests release the engine", () => {
  engine.destroy();
});
