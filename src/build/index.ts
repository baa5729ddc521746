/**
 * Building TensorRT engines: buildEngine(), its options, optimization profiles, the engine
 * cache and the plan sidecar.
 */
export { buildEngine, saveEngine, type BuiltEngine } from './build-engine.js';
export {
  BuildOptionsSchema,
  normaliseForKey,
  canonicalJson,
  dimRange,
  type BuildOptions,
  type BuildProgressEvent,
  type DimRange,
  type DimRangeInput,
  type GenerationBuildOptions,
  type NormalisedBuildOptions,
  type ProfileInput,
  type ShapeRange,
} from './options.js';
export {
  engineDimRanges,
  generationDimRanges,
  generationLimits,
  generationRoleRanges,
  GENERATION_DEFAULTS,
  type GenerationLimits,
} from './generation.js';
export { deriveProfiles, profilesAsRecords, type NetworkInput, type InputProfile, type Profile } from './profiles.js';
export { EngineCache, cacheKey, defaultCacheDir, sha256, type CacheEntry, type CacheKeyParts } from './cache.js';
export { EngineInfoSchema, ENGINE_INFO_FORMAT, readSidecar, writeSidecar, sidecarPath, type EngineInfo } from './sidecar.js';
export { writeFileAtomic } from '../files.js';
