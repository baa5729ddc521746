/**
 * Reference data in the ONNX backend-test layout:
 *
 *     model.onnx
 *     test_data_set_0/input_0.pb  input_1.pb  ...  output_0.pb  ...
 *     test_data_set_1/...
 *
 * Each `.pb` file is one serialized TensorProto. `DIR` may be one `test_data_set_N` folder
 * or a folder holding several (each is one iteration, in numeric order). Tensors are matched
 * to the model's inputs and outputs by their TensorProto name when it names one, else by
 * position (input_0.pb is the model's first input, and so on), as ONNX's test runner does.
 */
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { FileError, InvalidArgumentError } from '../errors.js';
import { readTensorProto } from '../onnx/index.js';
import type { Tensor } from '../tensor.js';
import type { Feeds, Outputs, TensorInfo } from '../session.js';

export interface RefDataSet {
  /** The folder this iteration came from. */
  dir: string;
  inputs: Feeds;
  /** Empty when the folder has no output_N.pb files. */
  outputs: Outputs;
}

const numbered = (prefix: string) => new RegExp(`^${prefix}_(\\d+)\\.pb$`);

async function listDir(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (e) {
    throw new FileError(`cannot read the reference data folder ${JSON.stringify(dir)}: ${(e as Error).message}`, { cause: e });
  }
}

function sortedMatches(files: string[], prefix: string): string[] {
  const re = numbered(prefix);
  return files
    .map((f) => ({ f, m: re.exec(f) }))
    .filter((x): x is { f: string; m: RegExpExecArray } => x.m !== null)
    .sort((x, y) => Number(x.m[1]) - Number(y.m[1]))
    .map((x) => x.f);
}

async function readPbs(dir: string, files: string[]): Promise<{ file: string; name: string; tensor: Tensor }[]> {
  return Promise.all(
    files.map(async (file) => {
      const path = join(dir, file);
      let bytes: Uint8Array;
      try {
        bytes = await readFile(path);
      } catch (e) {
        throw new FileError(`cannot read ${JSON.stringify(path)}: ${(e as Error).message}`, { cause: e });
      }
      return { file: path, ...readTensorProto(bytes, `tensor file ${JSON.stringify(path)}`) };
    }),
  );
}

/** Assigns tensors to `infos` by TensorProto name, else by position. */
function assign(tensors: { file: string; name: string; tensor: Tensor }[], infos: readonly TensorInfo[], kind: 'input' | 'output'): Record<string, Tensor> {
  const names = new Set(infos.map((i) => i.name));
  const byName = tensors.length > 0 && tensors.every((t) => names.has(t.name));
  if (!byName && tensors.length > infos.length) {
    throw new InvalidArgumentError(
      `${tensors.length} ${kind} tensor files (${tensors.map((t) => JSON.stringify(t.file)).join(', ')}) but the model has ` +
        `${infos.length} ${kind}(s): ${infos.map((i) => JSON.stringify(i.name)).join(', ') || '(none)'}`,
    );
  }
  const out: Record<string, Tensor> = {};
  tensors.forEach((t, i) => {
    out[byName ? t.name : infos[i]!.name] = t.tensor;
  });
  return out;
}

/**
 * Reads the data sets under `dir` for a model with the given inputs and outputs. Throws
 * FileError when nothing can be read, InvalidArgumentError when the folder holds no data set,
 * OnnxParseError for a file that is not a TensorProto.
 */
export async function readRefData(dir: string, inputs: readonly TensorInfo[], outputs: readonly TensorInfo[]): Promise<RefDataSet[]> {
  const files = await listDir(dir);
  let dirs: string[];
  if (sortedMatches(files, 'input').length > 0 || sortedMatches(files, 'output').length > 0) dirs = [dir];
  else {
    const sets = files
      .map((f) => ({ f, m: /^test_data_set_(\d+)$/.exec(f) }))
      .filter((x): x is { f: string; m: RegExpExecArray } => x.m !== null)
      .sort((x, y) => Number(x.m[1]) - Number(y.m[1]))
      .map((x) => join(dir, x.f));
    const folders: string[] = [];
    for (const d of sets) if ((await stat(d)).isDirectory()) folders.push(d);
    dirs = folders;
  }
  if (dirs.length === 0) {
    throw new InvalidArgumentError(
      `${JSON.stringify(dir)} holds no reference data: expected input_N.pb / output_N.pb files or test_data_set_N folders (the ONNX backend-test layout)`,
    );
  }
  const sets: RefDataSet[] = [];
  for (const d of dirs) {
    const list = d === dir ? files : await listDir(d);
    const ins = await readPbs(d, sortedMatches(list, 'input'));
    const outs = await readPbs(d, sortedMatches(list, 'output'));
    sets.push({ dir: d, inputs: assign(ins, inputs, 'input'), outputs: assign(outs, outputs, 'output') });
  }
  return sets;
}
