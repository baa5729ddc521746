/**
 * The engine cache: plans keyed by what determines them — the model's sha256, the normalised
 * build options, the TensorRT version and the GPU's compute capability. An entry is
 * `<key>.plan` (TensorRT's bytes) plus `<key>.plan.json` (the sidecar). Writes go to a
 * temporary name and are renamed, the sidecar last; a read accepts an entry only when the
 * plan's size and sha256 match its sidecar, so a torn or concurrent write reads as a miss,
 * never as a wrong engine.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { canonicalJson, type NormalisedBuildOptions } from './options.js';
import { writeFileAtomic } from '../files.js';
import { readSidecar, sidecarPath, writeSidecar, type EngineInfo } from './sidecar.js';

export interface CacheKeyParts {
  modelSha256: string;
  options: NormalisedBuildOptions;
  /** The TensorRT library version that builds (plans are tied to it). */
  tensorrtVersion: string;
  /** e.g. "9.0"; plans are tied to the GPU architecture unless built hardware-compatible. */
  computeCapability: string;
}

const KEY_VERSION = 1;

export function sha256(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

export function cacheKey(parts: CacheKeyParts): string {
  return sha256(canonicalJson({ v: KEY_VERSION, ...parts }));
}

/** TENSORRT_NODE_CACHE, else $XDG_CACHE_HOME/tensorrt-node/engines, else ~/.cache/tensorrt-node/engines. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env, home: string = homedir()): string {
  if (env.TENSORRT_NODE_CACHE) return env.TENSORRT_NODE_CACHE;
  const base = env.XDG_CACHE_HOME && env.XDG_CACHE_HOME.startsWith('/') ? env.XDG_CACHE_HOME : join(home, '.cache');
  return join(base, 'tensorrt-node', 'engines');
}

export interface CacheEntry {
  plan: Uint8Array;
  info: EngineInfo;
  path: string;
}

export class EngineCache {
  constructor(readonly dir: string) {}

  planPath(key: string): string {
    return join(this.dir, `${key}.plan`);
  }

  /** The entry for `key`, or null when there is none or it does not check out. */
  async get(key: string): Promise<CacheEntry | null> {
    const path = this.planPath(key);
    let info: EngineInfo | null;
    try {
      info = await readSidecar(sidecarPath(path), { optional: true });
    } catch {
      return null;
    }
    if (info === null || info.cacheKey !== key) return null;
    let plan: Uint8Array;
    try {
      plan = await readFile(path);
    } catch {
      return null;
    }
    if (plan.byteLength !== info.plan.bytes || sha256(plan) !== info.plan.sha256) return null;
    return { plan, info, path };
  }

  /** Stores `plan` and its sidecar under `info.cacheKey`; returns the plan's path. */
  async put(plan: Uint8Array, info: EngineInfo): Promise<string> {
    const path = this.planPath(info.cacheKey);
    await writeFileAtomic(path, plan);
    await writeSidecar(sidecarPath(path), info);
    return path;
  }
}
