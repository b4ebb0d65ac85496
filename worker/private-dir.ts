/**
 * Where the worker writes the files that carry a password for a moment (the
 * source config for `operate-source create`, a task file for `start-task`):
 * a directory only the worker's user can read, one sub-directory per worker
 * process. Each file is removed right after use; what a SIGKILL left behind
 * is removed when a worker starts, but only where the worker can prove the
 * owner is gone.
 *
 * A pid alone says nothing outside its own PID namespace and host: workers in
 * two containers, or on two hosts sharing a home directory, see each other's
 * pids as free (or as some other process). So each sub-directory is named by
 * everything that makes its owner checkable: `host=<name>,boot=<boot id>,
 * pidns=<PID namespace inode>,pid=<pid>`. The boot id
 * (/proc/sys/kernel/random/boot_id) is one per running kernel, so two hosts
 * (or two boots of one) never share it; the PID namespace inode
 * (/proc/self/ns/pid) tells namespaces of one kernel apart. A worker removes a
 * sub-directory only when it can prove the owner gone:
 * - on the same kernel (boot id), the owner's socket `owner.sock` in its
 *   sub-directory refuses a connection: each worker listens there for as long
 *   as it lives and the kernel closes it when the process ends, whatever PID
 *   namespace either side is in (a socket file is found by its inode, so this
 *   holds across containers sharing the directory, never across hosts);
 * - or the boot id and PID namespace are its own and that pid no longer runs.
 * Every other one (another host or boot, a name it cannot read, a directory
 * named by an older worker with the pid alone, a socket that accepts or cannot
 * be tried) is kept and returned as `kept`, for the operator to judge.
 *
 * Default: $XDG_RUNTIME_DIR/dm-switch (memory-backed, per user), else
 * ~/.local/state/dm-switch/private; `privateDir` in the worker's
 * configuration overrides it.
 */
import { access, chmod, lstat, mkdir, open, readFile, readdir, readlink, rm } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { homedir, hostname } from 'node:os';
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

/** Who owns a sub-directory: 'unknown' where the system does not tell (no /proc), which proves nothing. */
export interface PrivateDirOwner {
  host: string;
  bootId: string;
  pidNs: string;
  pid: number;
}

/** This process's identity, read from /proc (Linux); 'unknown' parts where it cannot be read. */
export async function currentOwner(): Promise<PrivateDirOwner> {
  const bootId = await readFile('/proc/sys/kernel/random/boot_id', 'utf8').then(
    (s) => s.trim().toLowerCase(),
    () => 'unknown',
  );
  const pidNs = await readlink('/proc/self/ns/pid').then(
    (s) => /^pid:\[(\d+)\]$/.exec(s)?.[1] ?? 'unknown',
    () => 'unknown',
  );
  // a file name: the characters a host name may carry, anything else (and a leading dot) as '_'
  const host =
    hostname()
      .replace(/[^A-Za-z0-9.-]/g, '_')
      .replace(/^\./, '_') || 'unknown';
  return { host, bootId: /^[0-9a-f-]+$/.test(bootId) ? bootId : 'unknown', pidNs, pid: process.pid };
}

export const ownerDirName = (o: PrivateDirOwner): string =>
  `host=${o.host},boot=${o.bootId},pidns=${o.pidNs},pid=${o.pid}`;

export function parseOwnerDirName(name: string): PrivateDirOwner | undefined {
  const m = /^host=([A-Za-z0-9._-]+),boot=([0-9a-f-]+|unknown),pidns=(\d+|unknown),pid=([1-9]\d*)$/.exec(name);
  return m ? { host: m[1]!, bootId: m[2]!, pidNs: m[3]!, pid: Number(m[4]) } : undefined;
}

/**
 * Whether the owner of a sub-directory is provably gone, as seen by `me`: same running kernel (boot id),
 * same PID namespace, and its pid no longer runs. A live pid may be another process that took the number:
 * kept all the same (the cost is a leftover, never a live worker's file removed).
 */
export function provablyGone(owner: PrivateDirOwner, me: PrivateDirOwner): boolean {
  if (me.bootId === 'unknown' || me.pidNs === 'unknown') return false;
  return owner.bootId === me.bootId && owner.pidNs === me.pidNs && !alive(owner.pid);
}

/**
 * A Unix socket's path has room for 107 bytes (sun_path), less than these names need; so the socket is reached
 * through a descriptor of its directory, /proc/self/fd/<n>/owner.sock, and only without /proc by its full path
 * (when that fits). Undefined: it cannot be reached.
 */
const OWNER_SOCKET = 'owner.sock';
async function viaDir<T>(dir: string, use: (path: string) => Promise<T>): Promise<T | undefined> {
  const handle = await open(dir, 'r').catch(() => undefined);
  try {
    const short = `/proc/self/fd/${handle?.fd}/${OWNER_SOCKET}`;
    if (
      handle &&
      (await access(`/proc/self/fd/${handle.fd}`).then(
        () => true,
        () => false,
      ))
    )
      return await use(short);
    const full = join(dir, OWNER_SOCKET);
    return Buffer.byteLength(full) <= 107 ? await use(full) : undefined;
  } finally {
    await handle?.close();
  }
}

/** Whether connecting to `path` is refused: a socket file that no live process listens on. */
function refused(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = createConnection(path);
    const done = (r: boolean): void => {
      clearTimeout(t);
      c.destroy();
      resolve(r);
    };
    const t = setTimeout(() => done(false), 2_000);
    c.once('connect', () => done(false));
    c.once('error', (e: NodeJS.ErrnoException) => done(e.code === 'ECONNREFUSED'));
  });
}

/**
 * Listens on `owner.sock` in this worker's own sub-directory for the rest of its life (connections are closed at
 * once), so that workers in other PID namespaces can tell it runs. Without the socket (a path too long, a file
 * system that has none) the others fall back on the pid, and only in this namespace.
 */
async function listenAsOwner(dir: string): Promise<void> {
  const server = createServer((c) => c.destroy());
  await viaDir(dir, async (path) => {
    // a socket no one listens on is an earlier process's that had our pid: ours must not look as dead as it
    if (await refused(path)) await rm(path, { force: true });
    // in use: another worker of this same process listens there already, and says just as well that we run
    await new Promise<void>((resolve) => {
      server.once('error', () => resolve());
      server.listen(path, () => resolve());
    });
  });
  server.unref();
}

/** Whether the owner of the sub-directory `dir` is provably gone (see the top of this file). */
async function ownerGone(dir: string, owner: PrivateDirOwner, me: PrivateDirOwner): Promise<boolean> {
  if (me.bootId !== 'unknown' && owner.bootId === me.bootId && (await viaDir(dir, refused))) return true;
  return provablyGone(owner, me);
}

/**
 * Makes `root` (mode 0700, refusing a symlink or another user's directory),
 * removes what provably dead workers left in it, and returns this process's
 * own sub-directory. Returns what it removed and what it kept (owners it
 * cannot prove gone, other than itself), for the log.
 */
export async function preparePrivateDir(root: string): Promise<{ dir: string; removed: string[]; kept: string[] }> {
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
  const me = await currentOwner();
  const mine = ownerDirName(me);
  const removed: string[] = [];
  const kept: string[] = [];
  for (const name of await readdir(root)) {
    // our own name: this process's (another worker in it may use it already)
    if (name === mine) continue;
    const owner = parseOwnerDirName(name);
    if (owner && (await ownerGone(join(root, name), owner, me))) {
      await rm(join(root, name), { recursive: true, force: true });
      removed.push(name);
    } else kept.push(name);
  }
  const dir = join(root, mine);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await listenAsOwner(dir);
  return { dir, removed, kept };
}
