import { randomBytes } from 'node:crypto';
import { rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { FileError } from '../errors.js';

/**
 * Writes `content` to a temporary file next to `path`, then renames it over `path`, so a
 * reader never sees half a report and a failed write leaves nothing behind.
 */
export async function writeFileAtomic(path: string, content: string | Uint8Array): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await writeFile(tmp, content);
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw new FileError(`cannot write ${JSON.stringify(path)}: ${(e as Error).message}`, { cause: e });
  }
}
