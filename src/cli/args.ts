/**
 * Readers of command-line values shared by the subcommands: each names the flag and shows
 * what it got, as an InvalidArgumentError (exit code 2).
 */
import { InvalidArgumentError, describe } from '../errors.js';

/** An integer in [min, max]; undefined when the flag was not given. */
export function intArg(text: string | undefined, option: string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (text === undefined) return undefined;
  const v = Number(text);
  if (!/^\s*\d+\s*$/.test(text) || !Number.isSafeInteger(v) || v < min || v > max) {
    throw new InvalidArgumentError(`${option} must be an integer from ${min} to ${max}, got ${describe(text)}`);
  }
  return v;
}

/** A finite number in [min, max] (`unit` names it in the message, e.g. "seconds"). */
export function numberArg(text: string | undefined, option: string, min: number, max: number, unit = ''): number | undefined {
  if (text === undefined) return undefined;
  const v = Number(text);
  if (text.trim() === '' || !Number.isFinite(v) || v < min || v > max) {
    throw new InvalidArgumentError(`${option} must be a number${unit ? ` of ${unit}` : ''} from ${min} to ${max}, got ${describe(text)}`);
  }
  return v;
}

/** A comma-separated list without empty entries. */
export function listArg(text: string, option: string): string[] {
  const parts = text.split(',').map((s) => s.trim());
  if (parts.some((p) => p === '')) throw new InvalidArgumentError(`${option} must be a comma-separated list without empty entries, got ${describe(text)}`);
  return parts;
}

/** SYMBOL:SIZE words (sizes of symbolic dims), e.g. sequence:128. */
export function dimSizesArg(words: readonly string[] | undefined, option = '--dim'): Record<string, number> {
  const out: Record<string, number> = {};
  for (const word of words ?? []) {
    const colon = word.lastIndexOf(':');
    const n = colon > 0 ? intArg(word.slice(colon + 1), `${option} ${word}`, 0) : undefined;
    if (colon <= 0 || n === undefined) throw new InvalidArgumentError(`${option} ${JSON.stringify(word)}: expected SYMBOL:SIZE, e.g. sequence:128`);
    out[word.slice(0, colon)] = n;
  }
  return out;
}

/** Commander's collector for repeatable flags. */
export const collect = (value: string, previous: string[] = []): string[] => [...previous, value];
