/**
 * The one way this library writes a file: so that a reader never sees half of one and a
 * crash leaves either the old file or the new one.
 *
 * 1. the folder is made (with its parents) when missing;
 * 2. the bytes go to `.<name>.<pid>.<random>.tmp` in the same folder (same file system, so
 *    the rename below is atomic), opened with O_EXCL so two writers never share a temp file;
 * 3. the temp file is flushed to the disk (fsync) and closed;
 * 4. it is renamed over the target (a symbolic link at the target is replaced, not followed);
 * 5. the folder is flushed (fsync), so the rename itself survives a power loss.
 *
 * On any failure the temp file is removed and a FileError (ERR_IO) names the target.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { FileError } from './errors.js';

/** Writes `data` to `path` atomically (see the module comment). */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  await writeFileAtomicWith(path, (handle) => handle.writeFile(data));
}

/**
 * Like writeFileAtomic, for content written piece by piece: `write` gets the open temp file
 * (e.g. to write chunks or at positions) and must finish writing before it resolves.
 */
export async function writeFileAtomicWith(path: string, write: (handle: FileHandle) => Promise<void>): Promise<void> {
  const target = resolve(path);
  const dir = dirname(target);
  const tmp = join(dir, `.${basename(target)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  let handle: FileHandle | undefined;
  try {
    await mkdir(dir, { recursive: true });
    handle = await open(tmp, 'wx');
    await write(handle);
    await handle.sync();
    await handle.close();
    handle = undefined;
    await rename(tmp, target);
  } catch (e) {
    await handle?.close().catch(() => undefined);
    await rm(tmp, { force: true }).catch(() => undefined);
    throw new FileError(`cannot write ${JSON.stringify(path)}: ${(e as Error).message}`, { cause: e, path });
  }
  await syncFolder(dir);
}

/**
 * fsync of a folder makes a rename in it durable on POSIX file systems. Windows cannot open
 * a folder for it and some file systems refuse it (EINVAL); the file is in place either way,
 * so only the durability of the rename is left to the OS there.
 */
async function syncFolder(dir: string): Promise<void> {
  if (process.platform === 'win32') return;
  let handle: FileHandle | undefined;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch {
    // See above: nothing is lost but the durability guarantee of the rename.
  } finally {
    await handle?.close().catch(() => undefined);
  }
}
