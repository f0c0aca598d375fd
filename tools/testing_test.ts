import {
  assertClose,
  centralDifference,
  moments,
  mulberry32,
  relL2,
  relMaxErr,
  seeded,
  withTempDir,
} from "./testing.ts";

Deno.test("mulberry32 and seeded are deterministic uniform draws in range", () => {
  const a = seeded(1000, 7, -2, 3), b = seeded(1000, 7, -2, 3);
  if (a.some((v, i) => v !== b[i] || v < -2 || v >= 3)) throw new Error("seeded not repeatable");
  const m = moments(seeded(20000, 1, 0, 1));
  if (Math.abs(m.mean - 0.5) > 0.01 || Math.abs(m.std - Math.sqrt(1 / 12)) > 0.01) {
    throw new Error(`moments ${JSON.stringify(m)}`);
  }
  if (mulberry32(3)() === mulberry32(4)()) throw new Error("seeds collide");
});

Deno.test("assertClose names the worst element; relL2 and relMaxErr measure errors", () => {
  assertClose([1, 2.001], [1, 2], 0, 1e-3, "ok");
  let message = "";
  try {
    assertClose([1, 2.1, 3.5], [1, 2, 3], 0.01, 0, "x");
  } catch (e) {
    message = (e as Error).message;
  }
  if (!message.startsWith("x: element 2 is 3.5")) throw new Error(`message "${message}"`);
  if (Math.abs(relL2([3, 4], [0, 5]) - Math.sqrt(10) / 5) > 1e-12) throw new Error("relL2");
  if (relMaxErr([2, NaN], [2, 2]) !== Infinity) throw new Error("relMaxErr NaN");
  if (Math.abs(relMaxErr([0, 5], [0, 4]) - 0.25) > 1e-12) throw new Error("relMaxErr");
});

Deno.test("centralDifference is exact for a quadratic and restores the value", () => {
  const x = [1.5, -2];
  const d = centralDifference(x, 1, 1e-3, () => x[0] * x[1] * x[1]); // ∂/∂x1 = 2·x0·x1 = −6
  if (Math.abs(d + 6) > 1e-9) throw new Error(`derivative ${d}`);
  if (x[1] !== -2) throw new Error(`x[1] not restored: ${x[1]}`);
});

Deno.test("withTempDir gives a fresh folder and removes it, also when the body throws", async () => {
  const roots: string[] = [];
  await withTempDir("testing_test_", async (root) => {
    roots.push(root);
    await Deno.writeTextFile(`${root}/a.txt`, "a");
  });
  let thrown = false;
  try {
    await withTempDir("testing_test_", (root) => {
      roots.push(root);
      return Promise.reject(new Error("body"));
    });
  } catch {
    thrown = true;
  }
  if (!thrown || roots.length !== 2) throw new Error("the body's error was swallowed");
  for (const root of roots) {
    if (await Deno.stat(root).then(() => true, () => false)) throw new Error(`${root} left behind`);
  }
});
