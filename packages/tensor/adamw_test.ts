import assert from "node:assert/strict";
import { AdamW } from "./adamw.ts";
import { clipGradNorm } from "./grad_norm.ts";
import { Engine } from "./engine.ts";
import { TensorError } from "./tensor_errors.ts";
import type { Tensor } from "./tensor.ts";
import { parseSafetensors, serializeSafetensors } from "./safetensors.ts";
import { assertClose } from "./_testing.ts";

const engine = await Engine.create();

/** Parameters after each step and W's moments at the end, from the inputs {@linkcode INPUTS}. */
interface Trace {
  steps: { w: number[]; b: number[] }[];
  expAvgW: number[];
  expAvgSqW: number[];
}

// Generated once with torch 1.13 (Debian python3-torch): W (2, 3) and B (4) float32,
// AdamW(lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.05), four steps with the
// gradients below set by hand; parameters after each step and W's moments at the end.
const INPUTS = {
  w0: [0.661, 0.267, 0.062, 0.621, -0.452, -0.166],
  b0: [-1.523, 0.382, -1.028, -0.563],
  grads: [
    { gw: [-0.892, -0.058, -0.196, -0.966, 0.422, 0.267], gb: [-0.421, -0.511, -1.573, -0.123] },
    { gw: [7.174, -3.663, 3.197, -2.554, 0.651, -0.958], gb: [2.758, 5.057, 0.821, -1.976] },
    { gw: [-2.724, 1.627, 0.331, -6.777, 1.82, -0.415], gb: [2.493, -0.743, -2.409, 0.71] },
    { gw: [1.143, 2.759, -2.532, 3.518, -2.737, 1.813], gb: [1.165, -3.327, -2.21, 2.542] },
  ],
};

const TORCH_ADAMW: Trace = {
  steps: [
    {
      w: [
        0.6706694960594177,
        0.27686646580696106,
        0.07196899503469467,
        0.6306894421577454,
        -0.46177396178245544,
        -0.17591699957847595,
      ],
      b: [-1.5122385025024414, 0.39180898666381836, -1.0174859762191772, -0.5527185201644897],
    },
    {
      w: [
        0.6637759804725647,
        0.28427448868751526,
        0.06491538882255554,
        0.6397041082382202,
        -0.4714316427707672,
        -0.17045870423316956,
      ],
      b: [-1.5178279876708984, 0.38488268852233887, -1.0144821405410767, -0.5445990562438965],
    },
    {
      w: [
        0.660953938961029,
        0.28686925768852234,
        0.05883007124066353,
        0.6480040550231934,
        -0.48006877303123474,
        -0.16408143937587738,
      ],
      b: [-1.524983525276184, 0.38046684861183167, -1.0076866149902344, -0.5407775640487671],
    },
    {
      w: [
        0.6577543616294861,
        0.2852751612663269,
        0.05849888175725937,
        0.6515188217163086,
        -0.4793742597103119,
        -0.16636452078819275,
      ],
      b: [-1.5321394205093384, 0.3805351257324219, -0.9995861053466797, -0.5431339144706726],
    },
  ],
  expAvgW: [
    0.3852072060108185,
    0.12139882892370224,
    0.021258607506752014,
    -0.5354254245758057,
    -0.02640518918633461,
    0.08581630140542984,
  ],
  expAvgSqW: [
    0.06087587773799896,
    0.02365066669881344,
    0.016759155318140984,
    0.06569836288690567,
    0.01140076108276844,
    0.004446026869118214,
  ],
};

// Same, with B in a group with weight_decay=0: W follows the same trajectory, B this one.
const NODECAY_B: number[][] = [
  [-1.5130000114440918, 0.3919999897480011, -1.0180000066757202, -0.5530000329017639],
  [-1.5193456411361694, 0.3852696120738983, -1.0155049562454224, -0.5451569557189941],
  [-1.527260184288025, 0.38104623556137085, -1.0092166662216187, -0.5416077971458435],
  [-1.5351786613464355, 0.3813047409057617, -1.0016200542449951, -0.544234573841095],
];

const TORCH_ADAMW_NODECAY_B: Trace = {
  ...TORCH_ADAMW,
  steps: TORCH_ADAMW.steps.map((st, i) => ({ ...st, b: NODECAY_B[i] })),
};

// Same as the first, with torch.nn.utils.clip_grad_norm_([W, B], 1.0) before every step.
const TORCH_ADAMW_CLIP1: Trace = {
  steps: [
    // Adam's first step is m/√v, blind to the gradient's scale: torch gave the same numbers.
    TORCH_ADAMW.steps[0],
    {
      w: [
        0.6674979329109192,
        0.2846689820289612,
        0.06675195693969727,
        0.6397939324378967,
        -0.4701579809188843,
        -0.17687475681304932,
      ],
      b: [-1.5133922100067139, 0.38794565200805664, -1.0110960006713867, -0.543360710144043],
    },
    {
      w: [
        0.6676010489463806,
        0.2866891920566559,
        0.061936140060424805,
        0.6487382650375366,
        -0.4791358709335327,
        -0.17556102573871613,
      ],
      b: [-1.518068790435791, 0.38602450489997864, -1.004004955291748, -0.5392575860023499],
    },
    {
      w: [
        0.6666198372840881,
        0.2839478552341461,
        0.06340553611516953,
        0.6527607440948486,
        -0.47930121421813965,
        -0.1797180324792862,
      ],
      b: [-1.5234092473983765, 0.3883868157863617, -0.9964381456375122, -0.5421987771987915],
    },
  ],
  expAvgW: [
    0.00937852542847395,
    0.02324088290333748,
    -0.011451021768152714,
    -0.07745226472616196,
    0.00315678003244102,
    0.020284313708543777,
  ],
  expAvgSqW: [
    0.0007087782141752541,
    0.00027025892632082105,
    0.0001967164862435311,
    0.001072180806659162,
    0.00020525621948763728,
    7.711717626079917e-05,
  ],
};

async function replay(trace: Trace, mode: "plain" | "nodecay" | "clip"): Promise<void> {
  const W = engine.parameter(INPUTS.w0, [2, 3], "W");
  const B = engine.parameter(INPUTS.b0, [4], "B");
  const opt = mode === "nodecay"
    ? new AdamW([{ params: [W] }, { params: [B], weightDecay: 0 }], { lr: 0.01, weightDecay: 0.05 })
    : new AdamW([W, B], {
      lr: 0.01,
      betas: [0.9, 0.999],
      eps: 1e-8,
      weightDecay: 0.05,
      maxGradNorm: mode === "clip" ? 1 : undefined,
    });
  try {
    for (const [i, st] of trace.steps.entries()) {
      engine.scope(() => {
        W.grad = engine.keep(engine.tensor(INPUTS.grads[i].gw, [2, 3]));
        B.grad = engine.keep(engine.tensor(INPUTS.grads[i].gb, [4]));
        opt.step();
        opt.zeroGrad();
      });
      // Float32 on both sides; the GPU may fuse multiply-adds: a few ulps.
      assertClose(await W.read(), st.w, 1e-6, 1e-6, `${mode} step ${i + 1} W`);
      assertClose(await B.read(), st.b, 1e-6, 1e-6, `${mode} step ${i + 1} B`);
    }
    const state = await opt.state();
    assert.equal(state[0].step, trace.steps.length);
    assertClose(state[0].expAvg, trace.expAvgW, 1e-7, 1e-6, `${mode} exp_avg`);
    assertClose(state[0].expAvgSq, trace.expAvgSqW, 1e-9, 1e-6, `${mode} exp_avg_sq`);
  } finally {
    opt.dispose();
    W.dispose();
    B.dispose();
  }
}

Deno.test("AdamW reproduces a hand-stepped torch.optim.AdamW trace", async () => {
  await replay(TORCH_ADAMW, "plain");
});

Deno.test("AdamW parameter groups exclude some parameters from weight decay like PyTorch", async () => {
  await replay(TORCH_ADAMW_NODECAY_B, "nodecay");
});

Deno.test("AdamW with maxGradNorm matches clip_grad_norm_ followed by AdamW", async () => {
  await replay(TORCH_ADAMW_CLIP1, "clip");
});

Deno.test("clipGradNorm() scales gradients to the global norm and returns it", async () => {
  const a = engine.parameter([0, 0], [2], "a");
  const b = engine.parameter([0], [1], "b");
  a.grad = engine.tensor([3, 4], [2]);
  b.grad = engine.tensor([12], [1]);
  const total = clipGradNorm([a, b], 6.5);
  assert.deepEqual(total.shape, []);
  assert(Math.abs((await engine.item(total)) - 13) < 1e-5);
  const k = 6.5 / (13 + 1e-6);
  assertClose(await a.grad.read(), [3 * k, 4 * k], 1e-6, 1e-6, "a.grad");
  assertClose(await b.grad.read(), [12 * k], 1e-6, 1e-6, "b.grad");
  // Below the threshold nothing changes.
  const small = clipGradNorm([a, b], 100);
  assertClose(await a.grad.read(), [3 * k, 4 * k], 1e-6, 1e-6, "unclipped");
  for (const t of [a, b, total, small]) t.dispose();
  // A gradient over several workgroup spans (5000 > 2048 elements) next to a small one.
  const big = engine.parameter(new Float32Array(5000), [50, 100], "big");
  const gBig = Float32Array.from({ length: 5000 }, (_, i) => Math.sin(i) * 0.1);
  big.grad = engine.tensor(gBig, [50, 100]);
  const a2 = engine.parameter([0, 0], [2], "a2");
  a2.grad = engine.tensor([3, 4], [2]);
  const want = Math.sqrt(gBig.reduce((s, v) => s + v * v, 0) + 25);
  const t2 = clipGradNorm([big, a2], 1);
  assert(Math.abs((await engine.item(t2)) - want) < 1e-5 * want, `norm vs ${want}`);
  const kk = 1 / (want + 1e-6);
  assertClose(await big.grad.read(), gBig.map((v) => v * kk), 1e-7, 1e-5, "big.grad");
  for (const t of [big, t2, a2]) t.dispose();
});

Deno.test("AdamW state saves to safetensors and loads into a fresh optimizer", async () => {
  const make = () => engine.parameter([0.5, -0.25, 1, 2], [2, 2], "p");
  const p1 = make(), p2 = make();
  const o1 = new AdamW([p1], { lr: 0.05 }), o2 = new AdamW([p2], { lr: 0.05 });
  const grads = [[1, -1, 0.5, 2], [0.3, 0.1, -0.2, 0.7], [-1, 1, 1, -1]];
  const stepWith = (p: Tensor, o: AdamW, g: number[]) =>
    engine.scope(() => {
      p.grad = engine.keep(engine.tensor(g, [2, 2]));
      o.step();
      o.zeroGrad();
    });
  stepWith(p1, o1, grads[0]);
  stepWith(p1, o1, grads[1]);
  const bytes = serializeSafetensors(await o1.stateDict());
  const file = parseSafetensors(bytes, "adamw_state");
  const record: Record<string, { data: ArrayLike<number> }> = {};
  for (const name of file.tensors.keys()) record[name] = { data: file.float32(name) };
  // p2 gets p1's values and o2 gets o1's state: the next step must agree exactly.
  p2.dispose();
  const p2b = engine.parameter(await p1.read(), [2, 2], "p");
  const o2b = new AdamW([p2b], { lr: 0.05 });
  o2b.loadState(record);
  stepWith(p1, o1, grads[2]);
  stepWith(p2b, o2b, grads[2]);
  assert.deepEqual(await p2b.read(), await p1.read());
  assert.equal((await o2b.state())[0].step, 3);
  assert.throws(
    () => o2b.loadState([{ step: 1, expAvg: new Float32Array(3), expAvgSq: new Float32Array(4) }]),
    (e: unknown) => e instanceof TensorError && /state.0.exp_avg has 3 values/.test(String(e)),
  );
  for (const o of [o1, o2, o2b]) o.dispose();
  p1.dispose();
  p2b.dispose();
});

Deno.test("AdamW rejects bad hyper-parameters and parameter lists", () => {
  const p = engine.parameter([1], [1], "p");
  assert.throws(
    () => new AdamW([p], { betas: [1, 0.9] }),
    (e: unknown) => e instanceof RangeError && /betas/.test(String(e)),
  );
  assert.throws(
    () => new AdamW([p, p]),
    (e: unknown) => e instanceof TensorError && /"p" \[1\] listed twice/.test(String(e)),
  );
  assert.throws(
    () => new AdamW([]),
    (e: unknown) => e instanceof TensorError && /empty/.test(String(e)),
  );
  p.dispose();
});

/** One f32 AdamW step on the CPU in PyTorch's order of operations (every result rounded). */
function cpuAdamW(
  p: Float32Array,
  g: Float32Array,
  m: Float32Array,
  v: Float32Array,
  step: number,
  o: { lr: number; wd: number; b1: number; b2: number; eps: number; coef: number },
): void {
  const f = Math.fround;
  const bc1 = 1 - o.b1 ** step, bc2 = 1 - o.b2 ** step;
  const [decay, b1, omb1, b2, omb2] = [1 - o.lr * o.wd, o.b1, 1 - o.b1, o.b2, 1 - o.b2].map(f);
  const [stepSize, sqrtBc2, eps, coef] = [o.lr / bc1, Math.sqrt(bc2), o.eps, o.coef].map(f);
  for (let i = 0; i < p.length; i++) {
    const grad = o.coef === 1 ? g[i] : f(g[i] * coef);
    const param = f(p[i] * decay);
    m[i] = f(f(m[i] * b1) + f(grad * omb1));
    v[i] = f(f(v[i] * b2) + f(f(omb2 * grad) * grad));
    const denom = f(f(Math.sqrt(v[i]) / sqrtBc2) + eps);
    p[i] = f(param + f(-stepSize * f(m[i] / denom)));
  }
}

Deno.test("AdamW matches a float32 CPU step for every kernel shape, with vec4 bodies and scalar tails", async () => {
  // Sizes: a vec4 body with a 1-element tail over several workgroups, a 3-element tail after
  // 3 vectors, a 2-element tensor (tail only) and a multiple of 4 over many workgroups.
  const shapes = [[1029], [3, 5], [2], [4, 4100]];
  const init = (n: number, seed: number) =>
    Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + seed) * (1 + seed));
  const kernels = [
    {},
    { vectorsPerInvocation: 4, workgroupSize: 64 },
    { vectorWidth: 1 as const, vectorsPerInvocation: 3 },
    { normVectorsPerInvocation: 1, workgroupSize: 32 },
  ];
  for (const kernel of kernels) {
    for (const maxGradNorm of [undefined, 2]) {
      const what = `${JSON.stringify(kernel)} clip ${maxGradNorm}`;
      const params = shapes.map((s, i) =>
        engine.parameter(init(s.reduce((a, b) => a * b), i), s, `p${i}`)
      );
      const cpu = params.map((p) => ({
        p: init(p.size, Number(p.label!.slice(1))),
        m: new Float32Array(p.size),
        v: new Float32Array(p.size),
      }));
      const opt = new AdamW(params, { lr: 0.01, weightDecay: 0.1, maxGradNorm, kernel });
      for (let step = 1; step <= 2; step++) {
        const grads = params.map((p, i) => init(p.size, 10 * step + i).map((x) => x * 0.5));
        let sq = 0;
        for (const g of grads) for (const x of g) sq += x * x;
        const coef = maxGradNorm ? Math.min(1, maxGradNorm / (Math.sqrt(sq) + 1e-6)) : 1;
        assert(!maxGradNorm || coef < 0.5, "the clipping test must clip");
        engine.scope(() => {
          params.forEach((p, i) => p.grad = engine.keep(engine.tensor(grads[i], p.shape)));
          opt.step();
          opt.zeroGrad();
        });
        cpu.forEach((c, i) =>
          cpuAdamW(c.p, grads[i], c.m, c.v, step, {
            lr: 0.01,
            wd: 0.1,
            b1: 0.9,
            b2: 0.999,
            eps: 1e-8,
            coef,
          })
        );
      }
      const state = await opt.state();
      for (const [i, p] of params.entries()) {
        assertClose(await p.read(), cpu[i].p, 1e-6, 1e-6, `${what} ${p.label}`);
        assertClose(state[i].expAvg, cpu[i].m, 1e-7, 1e-5, `${what} ${p.label} exp_avg`);
        assertClose(state[i].expAvgSq, cpu[i].v, 1e-9, 1e-5, `${what} ${p.label} exp_avg_sq`);
      }
      opt.dispose();
      for (const p of params) p.dispose();
    }
  }
});

Deno.test("clipGradNorm() handles gradients with scalar tails under every kernel shape", async () => {
  for (const kernel of [{}, { vectorWidth: 1 as const }, { normVectorsPerInvocation: 3 }]) {
    const sizes = [5001, 7, 1];
    const grads = sizes.map((n, k) => Float32Array.from({ length: n }, (_, i) => Math.cos(i + k)));
    const ps = sizes.map((n, k) => {
      const p = engine.parameter(new Float32Array(n), [n], `g${k}`);
      p.grad = engine.tensor(grads[k], [n]);
      return p;
    });
    const want = Math.sqrt(grads.reduce((s, g) => s + g.reduce((a, x) => a + x * x, 0), 0));
    const total = clipGradNorm(ps, 3, kernel);
    assert(Math.abs((await engine.item(total)) - want) < 1e-5 * want, `norm vs ${want}`);
    const k = 3 / (want + 1e-6);
    for (const [i, p] of ps.entries()) {
      assertClose(
        await p.grad!.read(),
        grads[i].map((x) => x * k),
        1e-7,
        1e-5,
        `${JSON.stringify(kernel)} ${p.label}`,
      );
    }
    for (const t of [...ps, total]) t.dispose();
  }
});

Deno.test("AdamW and clipGradNorm reject invalid kernel shapes", () => {
  const p = engine.parameter([1], [1], "p");
  assert.throws(
    () => new AdamW([p], { kernel: { vectorWidth: 2 as 4 } }),
    (e: unknown) =>
      e instanceof RangeError && /kernel.vectorWidth must be 1 or 4, got 2/.test(String(e)),
  );
  assert.throws(
    () => new AdamW([p], { kernel: { workgroupSize: 0 } }),
    (e: unknown) =>
      e instanceof RangeError && /kernel.workgroupSize must be an integer/.test(String(e)),
  );
  p.grad = engine.tensor([1], [1]);
  assert.throws(
    () => clipGradNorm([p], 1, { normVectorsPerInvocation: 1.5 }),
    (e: unknown) => e instanceof RangeError && /normVectorsPerInvocation/.test(String(e)),
  );
  p.dispose();
});

Deno.test("AdamW tests release the engine", async () => {
  await engine.close();
});
