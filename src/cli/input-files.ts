/**
 * The files a command reads, checked before anything is built or opened, so a missing, empty
 * or wrong file is reported in our words (ERR_IO, ERR_ONNX_PARSE; exit code 2) and not by
 * whatever reads it first (ONNX Runtime's C++ messages, or TensorRT being missing).
 */
import { stat } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { FileError, OnnxParseError } from '../errors.js';
import { readModel, type ModelProto } from '../onnx/index.js';

function label(what: string, path: string): string {
  return `${what} ${JSON.stringify(path)}`;
}

async function statOf(path: string, what: string): Promise<Stats> {
  try {
    return await stat(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'cannot be read (permission denied)' : `cannot be read: ${(e as Error).message}`;
    throw new FileError(`${label(what, path)} ${why}`, { cause: e, path });
  }
}

/** A regular, non-empty file (e.g. a TensorRT plan): ERR_IO when missing or a folder, ERR_ONNX_PARSE when empty. */
export async function checkInputFile(path: string, what: string): Promise<void> {
  const s = await statOf(path, what);
  if (s.isDirectory()) throw new FileError(`${label(what, path)} is a folder, expected a file`, { path });
  if (!s.isFile()) throw new FileError(`${label(what, path)} is not a regular file`, { path });
  if (s.size === 0) throw new OnnxParseError(`${label(what, path)} is empty (0 bytes), not a model`, { path });
}

/**
 * An ONNX model file, decoded (external data not loaded): the checks of checkInputFile, then
 * ERR_ONNX_PARSE naming the file when its bytes are not an ONNX model.
 */
export async function readOnnxInput(path: string, what: string): Promise<ModelProto> {
  await checkInputFile(path, what);
  try {
    return await readModel(path, { loadExternalData: false });
  } catch (e) {
    if (e instanceof OnnxParseError) {
      throw new OnnxParseError(`${label(what, path)} is not an ONNX model: ${e.message}`, { cause: e, path });
    }
    throw e;
  }
}

/** A folder that exists (e.g. reference data): ERR_IO otherwise. */
export async function checkInputFolder(path: string, what: string): Promise<void> {
  const s = await statOf(path, what);
  if (!s.isDirectory()) throw new FileError(`${label(what, path)} is not a folder`, { path });
}

/** A file or a folder that exists: ERR_IO otherwise. */
export async function checkInputPath(path: string, what: string): Promise<'file' | 'folder'> {
  const s = await statOf(path, what);
  if (s.isDirectory()) return 'folder';
  if (s.size === 0 && s.isFile()) throw new FileError(`${label(what, path)} is empty (0 bytes)`, { path });
  return 'file';
}
