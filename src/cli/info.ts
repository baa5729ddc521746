/** `tensorrt-node info [--json]`: the addon, CUDA and its devices, TensorRT. */
import type { Command } from 'commander';
import { runtimeInfo, type RuntimeInfo } from '../info.js';

function gib(bytes: number | null): string {
  return bytes === null ? '?' : `${(bytes / 2 ** 30).toFixed(1)} GiB`;
}

export function formatInfo(info: RuntimeInfo): string {
  const lines: string[] = [];
  lines.push(`tensorrt-node ${info.package.version} on Node.js ${info.node.version} (N-API ${info.node.napi}, ${info.node.platform}-${info.node.arch})`);
  lines.push('');
  lines.push('Native addon');
  if (info.addon.loaded) {
    lines.push(`  loaded from  ${info.addon.path}`);
    lines.push(`  built with   CUDA ${info.addon.builtWith.cuda}, ${info.addon.builtWith.tensorrt ? `TensorRT ${info.addon.builtWith.tensorrt} headers` : 'no TensorRT headers'}`);
  } else {
    lines.push('  not loaded');
    for (const l of (info.addon.error ?? '').split('\n')) lines.push(`  ${l}`);
  }
  lines.push('');
  lines.push('CUDA');
  lines.push(`  runtime      ${info.cuda.runtimeVersion ?? 'n/a'}${info.addon.loaded ? ' (linked statically)' : ''}`);
  lines.push(`  driver       ${info.cuda.driverVersion ?? 'not found'}`);
  if (info.cuda.devices) {
    if (info.cuda.devices.length === 0) lines.push('  devices      none');
    for (const d of info.cuda.devices) {
      lines.push(`  device ${d.index}     ${d.name}, compute ${d.computeCapability}, ${d.multiProcessorCount} SMs, ${gib(d.totalMemory)} (${gib(d.freeMemory)} free), ${d.pciBusId}`);
    }
  }
  if (info.cuda.error) {
    lines.push(`  error        ${info.cuda.error.code}${info.cuda.error.cudaError ? ` ${info.cuda.error.cudaError}` : ''}: ${info.cuda.error.message}`);
    if (info.cuda.error.cudaError === 'cudaErrorInsufficientDriver' || info.cuda.error.cudaError === 'cudaErrorNoDevice') {
      lines.push('               no usable NVIDIA GPU and driver on this machine; the ONNX Runtime backend still works');
    }
  }
  lines.push('');
  lines.push('TensorRT');
  if (info.tensorrt.found) {
    lines.push(`  version      ${info.tensorrt.version}`);
    lines.push(`  library      ${info.tensorrt.libraryPath}`);
    lines.push(`  ONNX parser  ${info.tensorrt.parserPath ?? 'not found'}`);
  } else {
    lines.push('  not found');
  }
  if (info.tensorrt.error) lines.push(`  error        ${info.tensorrt.error}`);
  if (info.tensorrt.searched.length > 0) {
    lines.push('  searched');
    for (const s of info.tensorrt.searched) lines.push(`    ${s.path}${s.error ? `: ${s.error}` : ' (used)'}`);
  }
  return lines.join('\n');
}

export function registerInfo(program: Command): void {
  program
    .command('info')
    .description('show the native addon, CUDA devices and TensorRT this machine offers')
    .option('--json', 'print the report as JSON')
    .action((opts: { json?: boolean }) => {
      const info = runtimeInfo();
      process.stdout.write(opts.json ? `${JSON.stringify(info, null, 2)}\n` : `${formatInfo(info)}\n`);
    });
}
