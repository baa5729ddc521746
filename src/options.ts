/**
 * Option validation at the public edge: zod schemas parse user options into flat,
 * normalised objects; failures become one InvalidArgumentError naming each bad option,
 * what was expected and what was got.
 */
import type { z } from 'zod';
import { InvalidArgumentError, describe } from './errors.js';

export function parseOptions<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const result = schema.safeParse(value ?? {});
  if (result.success) return result.data;
  throw new InvalidArgumentError(`invalid ${what}: ${formatIssues(result.error, value)}`, { issues: result.error.issues });
}

export function formatIssues(error: z.ZodError, input: unknown): string {
  return error.issues
    .map((issue) => {
      const path = issue.path.length > 0 ? issue.path.map(String).join('.') : '(options)';
      const got = valueAt(input, issue.path);
      if (issue.code === 'unrecognized_keys') {
        return `${path === '(options)' ? '' : `${path}: `}unknown option(s) ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}`;
      }
      return `${path}: ${issue.message} (got ${describe(got)})`;
    })
    .join('; ');
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = input;
  for (const key of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[key];
  }
  return v;
}
