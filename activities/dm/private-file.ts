/**
 * Files that carry a password (a source or task configuration with its login
 * filled in, for dmctl to read): owner-only, in a fresh directory under the
 * worker's private directory, removed right after use.
 */
import { rmSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Writes `content` (it may carry a password) to an owner-only file in a
 * fresh directory under `root` (the worker's private directory,
 * worker/private-dir.ts), hands its path to `use`, and removes it after.
 */
export async function withPrivateFile<T>(
  root: string,
  name: string,
  content: string,
  use: (path: string) => Promise<T>,
): Promise<T> {
  await mkdir(root, { recursive: true, mode: 0o700 });
  const dir = await mkdtemp(join(root, 'cfg-'));
  try {
    const path = join(dir, name);
    await writeFile(path, content, { mode: 0o600 });
    return await use(path);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * The private directory: the worker's, or without one (worker/private-dir.ts checks its owner and mode) a fresh
 * one of our own, made exclusively on first use and removed at exit, never a predictable name in the shared
 * temporary directory that another user could own.
 */
export function privateDirectory(given?: string): () => Promise<string> {
  let fallback: Promise<string> | undefined;
  return async () =>
    given ??
    (fallback ??= mkdtemp(join(tmpdir(), 'dm-switch-private-')).then((dir) => {
      process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
      return dir;
    }));
}
