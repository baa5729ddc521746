/** `tensorrt-node info [--json]`: the addon, the CUDA driver and its devices, TensorRT. */
import type { Command } from 'commander';
import { runtimeInfo, type RuntimeInfo } from '../info.js';

function gib(bytes: number | null): string {
  return bytes === null ? '?' : `${(bytes / 2 ** 30).toFixed(1)} GiB`;
}

// What to do about a CUDA error, by the driver's error name.
const CUDA_ADVICE: Record<string, string> = {
  CUDA_ERROR_NO_DRIVER: 'no NVIDIA driver on this machine; the ONNX Runtime backend still works',
  CUDA_ERROR_INSUFFICIENT_DRIVER: 'update the NVIDIA driver to one for CUDA 12.0 or newer (R525+; TensorRT 11 needs CUDA 13, R580+)',
  CUDA_ERROR_NO_DEVICE: 'the driver sees no GPU; the ONNX Runtime backend still works',
  CUDA_ERROR_SYSTEM_DRIVER_MISMATCH: 'the NVIDIA kernel module and libcuda.so.1 are of different versions: reboot or reinstall the driver',
  CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE: 'a CUDA forward-compatibility libcuda.so.1 is on the loader path for a GPU that does not support it',
};

export function formatInfo(info: RuntimeInfo): string {
  const lines: string[] = [];
  lines.push(`tensorrt-node ${info.package.version} on Node.js ${info.node.version} (N-API ${info.node.napi}, ${info.node.platform}-${info.node.arch})`);
  lines.push('');
  lines.push('Native addon');
  if (info.addon.loaded) {
    const trt = info.addon.builtWith.tensorrt;
    lines.push(`  loaded from  ${info.addon.path}${info.addon.reason ? ` (${info.addon.reason})` : ''}`);
    lines.push(
      `  drives       ${trt.length > 0 ? `TensorRT ${trt.join(', ')} (headers)` : 'no TensorRT: built without TensorRT headers'}; CUDA ${info.addon.builtWith.cuda} headers`,
    );
  } else {
    lines.push('  not loaded');
    for (const l of (info.addon.error ?? '').split('\n')) lines.push(`  ${l}`);
  }
  for (const v of info.addon.variants.filter((x) => !x.loadable)) lines.push(`  not usable   ${v.path}: ${v.error}`);
  lines.push('');
  lines.push('CUDA');
  lines.push(`  driver       ${info.cuda.driverVersion ? `CUDA ${info.cuda.driverVersion}` : 'not found'}`);
  if (info.cuda.devices) {
    if (info.cuda.devices.length === 0) lines.push(`  devices      none (${CUDA_ADVICE.CUDA_ERROR_NO_DEVICE})`);
    for (const d of info.cuda.devices) {
      lines.push(
        `  device ${d.index}     ${d.name}, compute ${d.computeCapability}, ${d.multiProcessorCount} SMs, ${gib(d.totalMemory)} (${gib(d.freeMemory)} free), ${d.pciBusId}`,
      );
    }
  }
  if (info.cuda.error) {
    const e = info.cuda.error;
    lines.push(`  error        ${e.code}${e.cudaError ? ` ${e.cudaError}` : ''}: ${e.message}`);
    const advice = e.cudaError ? CUDA_ADVICE[e.cudaError] : undefined;
    if (advice) lines.push(`               ${advice}`);
  }
  lines.push('');
  lines.push('TensorRT');
  if (info.tensorrt.found) {
    lines.push(`  version      ${info.tensorrt.version}`);
    lines.push(`  library      ${info.tensorrt.libraryPath}`);
    lines.push(`  ONNX parser  ${info.tensorrt.parserPath ?? 'not found'}`);
    lines.push(`  plugins      ${info.tensorrt.pluginPath ?? 'not found'}`);
  } else {
    lines.push('  not found');
  }
  if (info.tensorrt.error) lines.push(`  error        ${info.tensorrt.error.code}: ${info.tensorrt.error.message}`);
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
