/**
 * Where the Synapse cases are: the training slices and test volumes of a Synapse folder,
 * named by the list files (`lists/lists_Synapse/{train,test_vol}.txt`) or, without them, by
 * the files present.
 *
 * @module
 */

import { isDir, join, listFiles } from "./_fs.ts";
import { DatasetLayoutError } from "./errors.ts";

async function resolveListDir(root: string, listDir?: string): Promise<string | null> {
  if (listDir) return listDir;
  for (const d of ["lists/lists_Synapse", "lists/list_Synapse"]) {
    if (await isDir(join(root, d))) return join(root, d);
  }
  return null;
}

async function readList(path: string): Promise<string[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw new DatasetLayoutError(path, `cannot read list file: ${(e as Error).message}`, {
      cause: e,
    });
  }
  const names = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l.length > 0);
  if (names.length === 0) throw new DatasetLayoutError(path, "empty list file");
  return names;
}

/** One folder of Synapse cases: where, the file suffix, the list file, and their words. */
export interface CaseFolder {
  /** The folder under the root, and an example file name stem for the layout hint. */
  folder: string;
  example: string;
  /** The file suffix after the case name, and the list file (in the list folder). */
  suffix: string;
  list: string;
  /** What one case and several are called (`slice`, `slices`). */
  item: string;
  items: string;
}

/** The training slices, `train_npz/caseXXXX_sliceYYY.npz`, listed in `train.txt`. */
export const SLICES: CaseFolder = {
  folder: "train_npz",
  example: "caseXXXX_sliceYYY",
  suffix: ".npz",
  list: "train.txt",
  item: "slice",
  items: "slices",
};

/** The test volumes, `test_vol_h5/caseXXXX.npy.h5`, listed in `test_vol.txt`. */
export const VOLUMES: CaseFolder = {
  folder: "test_vol_h5",
  example: "caseXXXX",
  suffix: ".npy.h5",
  list: "test_vol.txt",
  item: "case",
  items: "volumes",
};

/**
 * The cases of a Synapse folder: those of its list file when the root has list files, else
 * every file in the folder; each must exist.
 *
 * @throws {DatasetLayoutError} for a missing or empty folder, an empty list or a listed case
 * without its file.
 */
export async function listCases(
  root: string,
  listDirOption: string | undefined,
  c: CaseFolder,
): Promise<{ names: string[]; files: string[] }> {
  const dir = join(root, c.folder);
  if (!(await isDir(dir))) {
    throw new DatasetLayoutError(
      dir,
      `folder not found (Synapse layout: <root>/${c.folder}/${c.example}${c.suffix})`,
    );
  }
  const listDir = await resolveListDir(root, listDirOption);
  let names: string[];
  if (listDir) names = await readList(join(listDir, c.list));
  else {
    names = (await listFiles(dir)).filter((n) => n.endsWith(c.suffix))
      .map((n) => n.slice(0, -c.suffix.length));
    if (names.length === 0) {
      throw new DatasetLayoutError(dir, `empty folder: no ${c.suffix} ${c.items}`);
    }
  }
  const files = names.map((n) => join(dir, `${n}${c.suffix}`));
  await Promise.all(files.map(async (f, i) => {
    try {
      await Deno.stat(f);
    } catch {
      throw new DatasetLayoutError(
        f,
        `${c.item} "${names[i]}" from the list has no ${c.suffix} file`,
      );
    }
  }));
  return { names, files };
}
