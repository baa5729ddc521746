/**
 * `tensorrt-node/cuda`: the CUDA layer the addon exposes. Devices and their properties,
 * memory info, streams, events, device buffers, the pinned host pool, copies and a
 * bandwidth probe.
 */
export * from '../cuda.js';
