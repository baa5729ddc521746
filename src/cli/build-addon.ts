/**
 * `tensorrt-node build-addon [--debug]`: builds the native addon from source where this package
 * is (an installed package or a checkout), one variant per TensorRT major whose headers are
 * found (TENSORRT_ROOT=/path/to/TensorRT to add one). The command the addon's load errors and
 * `info` name; it works whatever npm did with install scripts.
 */
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { CliExit, EXIT_FAIL } from './index.js';

export function registerBuildAddon(program: Command): void {
  program
    .command('build-addon')
    .description('build the native addon from source (needs the CUDA headers, cmake >= 3.18 and a C++17 compiler)')
    .option('--debug', 'a debug build (build/Debug)')
    .action((opts: { debug?: boolean }) => {
      const script = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'scripts', 'build-addon.mjs');
      const r = spawnSync(process.execPath, [script, ...(opts.debug ? ['--debug'] : [])], { stdio: 'inherit' });
      if (r.status !== 0) throw new CliExit(EXIT_FAIL, r.status === 3 ? 'install the missing tools and run it again' : '');
      process.stdout.write('run `tensorrt-node info` to see which addon variant loads and what it finds\n');
    });
}
