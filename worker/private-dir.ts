/**
 * Where the worker writes the files that carry a password for a moment (the
 * source config for `operate-source create`, a task file for `start-task`):
 * a directory only the worker's user can read, one sub-directory per worker
 * process (named by its pid). Each file is removed right after use; what a
 * SIGKILL left behind is removed when a worker starts: the sub-directories
 * of processes that no longer run.
 *
 * Default: $XDG_RUNTIME_DIR/dm-switch (memory-backed, per user), else
 * ~/.local/state/dm-switch/private; `privateDir` in the worker's
 * configuration overrides it.
 */
import { chmod, lstat, mkdir, readdir, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';

export function defaultPrivateDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.XDG_RUNTIME_DIR
    ? join(env.XDG_RUNTIME_DIR, 'dm-switch')
    : join(homedir(), '.local/state/dm-switch/private');
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/**
 * Makes `root` (mode 0700, refusing a symlink or another user's directory),
 * removes what dead workers left in it, and returns this process's own
 * sub-directory. Returns what it removed, for the log.
 */
export async function preparePrivateDir(root: string): Promise<{ dir: string; removed: string[] }> {
  await mkdir(root, { recursive: true, mode: 0o700 });
  const st = await lstat(root);
  if (!st.isDirectory() || st.isSymbolicLink())
    throw new Error(`the worker's private directory ${root} is not a directory`);
  if (typeof process.getuid === 'function' && st.uid !== process.getuid())
    throw new Error(
      `the worker's private directory ${root} belongs to another user (uid ${st.uid}); ` +
        `give privateDir a directory of the worker's own`,
    );
  await chmod(root, 0o700);
  const removed: string[] = [];
  for (const name of await readdir(root)) {
    const pid = Number(name);
    if (pid === process.pid || (Number.isInteger(pid) && pid > 0 && alive(pid))) continue;
    await rm(join(root, name), { recursive: true, force: true });
    removed.push(name);
  }
  const dir = join(root, String(process.pid));
  await mkdir(dir, { recursive: true, mode: 0o700 });
  return { dir, removed };
}
