import { lstat, mkdtemp, readdir, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeFileAtomic, writeFileAtomicWith } from '../../src/files.js';
import { FileError } from '../../src/errors.js';

describe('writeFileAtomic', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'trtn-atomic-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('makes the folders, replaces the file whole and leaves no temporary file', async () => {
    const path = join(dir, 'a', 'b', 'plan');
    await writeFileAtomic(path, 'one');
    await writeFileAtomic(path, new Uint8Array([116, 119, 111]));
    expect(await readFile(path, 'utf8')).toBe('two');
    expect(await readdir(join(dir, 'a', 'b'))).toEqual(['plan']);
  });

  it('reports a failed write as ERR_IO naming the path, leaving nothing behind', async () => {
    await writeFile(join(dir, 'file'), 'x');
    const target = join(dir, 'file', 'under-a-file');
    await expect(writeFileAtomic(target, 'y')).rejects.toThrow(FileError);
    await expect(writeFileAtomic(target, 'y')).rejects.toThrow(/cannot write ".*under-a-file"/);
    expect(await readdir(dir)).toEqual(['file']);
  });

  it('writes pieces at positions through writeFileAtomicWith, and a failing writer leaves the old file', async () => {
    const path = join(dir, 'model.onnx');
    await writeFileAtomicWith(path, async (h) => {
      await h.write(new Uint8Array([1, 2]), 0, 2, 4);
      await h.write(new Uint8Array([9]), 0, 1, 0);
    });
    expect([...(await readFile(path))]).toEqual([9, 0, 0, 0, 1, 2]);
    const failing = writeFileAtomicWith(path, async (h) => {
      await h.write(new Uint8Array([7, 7, 7]));
      throw new Error('disk on fire');
    });
    await expect(failing).rejects.toMatchObject({ code: 'ERR_IO', message: expect.stringContaining('disk on fire') });
    expect([...(await readFile(path))]).toEqual([9, 0, 0, 0, 1, 2]);
    expect(await readdir(dir)).toEqual(['model.onnx']);
  });

  it('replaces a symbolic link at the target instead of writing through it', async () => {
    await writeFile(join(dir, 'real'), 'kept');
    await symlink(join(dir, 'real'), join(dir, 'link'));
    expect(await readlink(join(dir, 'link'))).toBe(join(dir, 'real'));
    await writeFileAtomic(join(dir, 'link'), 'new');
    expect((await lstat(join(dir, 'link'))).isSymbolicLink()).toBe(false);
    expect(await readFile(join(dir, 'link'), 'utf8')).toBe('new');
    expect(await readFile(join(dir, 'real'), 'utf8')).toBe('kept');
  });
});
