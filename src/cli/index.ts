/**
 * The `tensorrt-node` command. Each subcommand lives in its own file and registers itself
 * here. Exit codes: 0 success, 1 a check failed (e.g. compare), 2 usage or input error.
 */
import { Command, CommanderError } from 'commander';
import { createRequire } from 'node:module';
import { TensorRTNodeError } from '../errors.js';
import { registerInfo } from './info.js';
import { registerCompare } from './compare.js';
import { registerConvertFp16 } from './convert-fp16.js';
import { registerBench } from './bench.js';
import { registerDemo } from './demo.js';
import { registerBuild } from './build.js';
import { registerBuildAddon } from './build-addon.js';
import { registerBenchGenerate } from './bench-generate.js';

export const EXIT_OK = 0;
export const EXIT_FAIL = 1;
export const EXIT_USAGE = 2;

/** Thrown by subcommands to end with a given exit code after printing `message`. */
export class CliExit extends Error {
  constructor(
    readonly exitCode: number,
    message = '',
  ) {
    super(message);
  }
}

export function buildProgram(): Command {
  const require = createRequire(import.meta.url);
  const pkg = require('../../package.json') as { version: string };
  const program = new Command('tensorrt-node')
    .description('TensorRT for Node.js: build engines, convert to FP16, compare accuracy, batch and benchmark')
    .version(pkg.version)
    .showHelpAfterError()
    .exitOverride();
  registerInfo(program);
  registerCompare(program);
  registerConvertFp16(program);
  registerBench(program);
  registerBuild(program);
  registerDemo(program);
  registerBuildAddon(program);
  registerBenchGenerate(program);
  return program;
}

export async function main(argv: string[] = process.argv): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return process.exitCode === undefined ? EXIT_OK : Number(process.exitCode);
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version end here with exit code 0.
      return e.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    }
    if (e instanceof CliExit) {
      if (e.message) process.stderr.write(`${e.message}\n`);
      return e.exitCode;
    }
    if (e instanceof TensorRTNodeError) {
      process.stderr.write(`error ${e.code}: ${e.message}\n`);
      return EXIT_USAGE;
    }
    process.stderr.write(`error: ${(e as Error)?.stack ?? String(e)}\n`);
    return EXIT_FAIL;
  }
}
