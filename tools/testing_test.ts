import { assertClose, moments, mulberry32, relL2, relMaxErr, seeded } from "./testing.ts";

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
