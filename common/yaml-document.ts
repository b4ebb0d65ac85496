/**
 * Reading the project's YAML files (the worker configuration, the webhook
 * policy) against their schema: a YAML error or every schema problem, each
 * named by its key, in one error of the caller's kind. Not for workflows
 * (they never read files).
 */
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { validate } from './switch/input.js';

export function parseYamlDocument<T>(
  schema: z.ZodType<T>,
  text: string,
  origin: string,
  error: (message: string) => Error,
): T {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (e) {
    throw error(`${origin} is not valid YAML: ${(e as Error).message}`);
  }
  // Like a switch's input, these files may hold no password: they come from the environment or files.
  const v = validate(schema, raw ?? {});
  if (!v.ok) throw error(invalid(origin, v.problems));
  return v.value;
}

/** "<origin> is invalid:" and one indented line a problem. */
export function invalid(origin: string, problems: string[]): string {
  return `${origin} is invalid:\n${problems.map((p) => `  - ${p}`).join('\n')}`;
}
