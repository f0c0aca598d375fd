/**
 * Readable errors in the page: every failure (no WebGPU, a bad file, a checkpoint of another
 * configuration, a device lost) becomes a message box naming what went wrong — never a blank
 * page or a console-only trace.
 *
 * @module
 */

/** The text shown for an error: its type and message (and the cause's, when there is one). */
export function describeError(error: unknown): string {
  if (error instanceof Error) {
    const name = error.name && error.name !== "Error" ? `${error.name}: ` : "";
    const cause = error.cause instanceof Error ? `\n(cause: ${error.cause.message})` : "";
    return `${name}${error.message}${cause}`;
  }
  return String(error);
}

/**
 * Shows an error in the page's error area.
 *
 * @param error What was thrown.
 * @param context What the page was doing (e.g. `loading model.pth`).
 */
export function showError(error: unknown, context?: string): void {
  const box = document.getElementById("errors")!;
  const div = document.createElement("div");
  div.className = "error";
  div.textContent = `${context ? `${context}: ` : ""}${describeError(error)}`;
  box.append(div);
  console.error(context ?? "error", error);
}

/** Removes the shown errors (a new action starts). */
export function clearErrors(): void {
  document.getElementById("errors")!.replaceChildren();
}

/**
 * Runs an action of the page, showing any error it throws.
 *
 * @param context What the action does, for the message.
 * @param action The action.
 * @returns Its result, or undefined when it failed.
 */
export async function guarded<T>(
  context: string,
  action: () => Promise<T>,
): Promise<T | undefined> {
  try {
    return await action();
  } catch (error) {
    showError(error, context);
    return undefined;
  }
}

/** Shows uncaught errors and rejected promises too. */
export function catchUncaught(): void {
  globalThis.addEventListener("error", (e) => showError(e.error ?? e.message, "unexpected error"));
  globalThis.addEventListener(
    "unhandledrejection",
    (e) => showError(e.reason, "unexpected error"),
  );
}
