/**
 * Text generation: the Generator (continuous batching over any decoder session), its stream,
 * and the decoder I/O detection it runs on.
 */
export { Generator, type GenerateResult, type FinishReason, type GeneratorConfig, type GeneratorStats } from './generator.js';
export { GenerationStream } from './stream.js';
export { detectDecoder, type DecoderIO, type KvSlot } from './decoder-io.js';
export type { GeneratorOptions, GenerateOptions, GeneratorCloseOptions } from './options.js';
