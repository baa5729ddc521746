/**
 * Files written so that a reader never sees half of one: the bytes go to a temporary name in
 * the same folder, are flushed, and the file is renamed over the target (atomic on POSIX
 * file systems). A crash leaves either the old file or the new one, plus at worst a stray
 * `.<name>.<pid>.<random>.tmp` that later writes ignore.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { FileError } from '../errors.js';

export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await mkdir(dir, { recursive: true });
    const handle = await open(tmp, 'wx');
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw new FileError(`cannot write ${JSON.stringify(path)}: ${(e as Error).message}`, { cause: e, path });
  }
}
