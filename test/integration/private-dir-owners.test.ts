/**
 * The worker's private directory is shared by every worker whose home (or privateDir) is the same: workers in
 * other containers (other PID namespaces) or on other hosts. A starting worker must remove only what it can
 * prove dead, never a live worker's directory whose pid merely looks free from here. Real processes: the
 * other container is a real PID namespace made with unshare (root), its worker's pid chosen (ns_last_pid) to be
 * a pid that runs nothing in ours; the other host is a directory named as another host's worker would name it
 * (a second kernel cannot be had here).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { access, mkdir, mkdtemp, readFile, readdir, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { preparePrivateDir } from '../../worker/private-dir.js';

const repo = join(import.meta.dirname, '../..');
const holderScript = join(repo, 'test/sandbox/private-dir-holder.ts');
let base: string;
const children: ChildProcess[] = [];

const running = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
const exists = (p: string): Promise<boolean> =>
  access(p).then(
    () => true,
    () => false,
  );
/** A pid that runs nothing in our namespace (from the top down: far from the pids being handed out). */
function freePid(): number {
  for (let pid = 30_000; pid > 1000; pid--) if (!running(pid)) return pid;
  throw new Error('no free pid');
}

/** The pid in our namespace of the process that is `nsPid` in a namespace one level below (NSpid in status). */
async function pidHereOf(nsPid: number): Promise<number> {
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const status = await readFile(`/proc/${name}/status`, 'utf8').catch(() => '');
    const m = /^NSpid:\s+(\d+)\s+(\d+)$/m.exec(status);
    if (m && Number(m[2]) === nsPid) return Number(m[1]);
  }
  throw new Error(`no process is ${nsPid} in a namespace below ours`);
}

/**
 * Starts a holder; with `asPid`, in a new PID namespace (and a mount namespace for its /proc) where it gets
 * that pid. Resolves with its directory once it has written its file; `child.pid` is the pid in ours.
 */
async function hold(root: string, asPid?: number): Promise<{ dir: string; child: ChildProcess }> {
  const node = [process.execPath, '--import', 'tsx', holderScript, root].map((a) => `'${a}'`).join(' ');
  const child =
    asPid === undefined
      ? spawn(process.execPath, ['--import', 'tsx', holderScript, root], { cwd: repo })
      : spawn(
          'unshare',
          [
            '--pid',
            '--fork',
            '--mount-proc',
            '--kill-child',
            'sh',
            '-c',
            `echo ${asPid - 1} > /proc/sys/kernel/ns_last_pid || exit 1; ${node} & wait`,
          ],
          { cwd: repo },
        );
  children.push(child);
  let out = '';
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const dir = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve(out.split('\n')[0]!);
    });
    child.on('exit', (code) => reject(new Error(`the holder exited (${code}) before it held a directory: ${err}`)));
  });
  return { dir, child };
}
const kill9 = (child: ChildProcess): Promise<void> =>
  new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.on('exit', () => resolve());
    child.kill('SIGKILL');
  });

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'dsw-private-owners-'));
});
afterEach(async () => {
  await Promise.all(children.splice(0).map(kill9));
});
afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

describe("the worker's private directory, shared with workers in other namespaces and on other hosts", () => {
  it('given a live worker in another PID namespace whose pid runs nothing here, should keep its directory and file when a worker starts here', async () => {
    const root = await mkdtemp(join(base, 'ns-'));
    const pid = freePid();
    const other = await hold(root, pid);
    expect(other.child.pid).not.toBe(pid); // its pid here is another one: ours sees only `pid`, in the name
    expect(running(pid)).toBe(false);
    expect(other.dir).toMatch(new RegExp(`\\b${pid}$`)); // it runs as `pid` there
    await preparePrivateDir(root);
    expect(await readFile(join(other.dir, 'source-mysql-replica-01.yaml'), 'utf8')).toContain('s3cret');
  });

  it('given a worker running here, should keep its directory and file when a worker starts in another PID namespace', async () => {
    const root = await mkdtemp(join(base, 'ours-'));
    const ours = await preparePrivateDir(root);
    await writeFile(join(ours.dir, 'task-a.yaml'), 'password: s3cret\n', { mode: 0o600 });
    await hold(root, freePid());
    expect(await readdir(ours.dir)).toContain('task-a.yaml');
  });

  it('given the directory of a worker on another host (another boot id) whose pid runs nothing here, should keep it', async () => {
    const root = await mkdtemp(join(base, 'host-'));
    const pidNs = /\[(\d+)\]/.exec(await readlink('/proc/self/ns/pid'))![1];
    const name = `host=db-worker-2,boot=${randomUUID()},pidns=${pidNs},pid=${freePid()}`;
    await mkdir(join(root, name), { mode: 0o700 });
    await writeFile(join(root, name, 'source-mysql-replica-01.yaml'), 'password: s3cret\n', { mode: 0o600 });
    const r = await preparePrivateDir(root);
    expect(await exists(join(root, name, 'source-mysql-replica-01.yaml'))).toBe(true);
    expect(r.removed).not.toContain(name);
  });

  it('given a worker in another PID namespace killed with SIGKILL (a container that stopped), should remove its directory and file', async () => {
    const root = await mkdtemp(join(base, 'ns-dead-'));
    const pid = freePid();
    const other = await hold(root, pid);
    // SIGKILL to the worker itself, seen from here by the pid our namespace gives it; gone once its shell reaped it
    const here = await pidHereOf(pid);
    process.kill(here, 'SIGKILL');
    while (running(here)) await new Promise((r) => setTimeout(r, 20));
    const r = await preparePrivateDir(root);
    expect(await exists(other.dir)).toBe(false);
    expect(r.removed).toEqual([basename(other.dir)]);
  });

  it("given a second worker started in the same process, should keep the first one's directory and file", async () => {
    const root = await mkdtemp(join(base, 'same-'));
    const first = await preparePrivateDir(root);
    await writeFile(join(first.dir, 'task-a.yaml'), 'password: s3cret\n', { mode: 0o600 });
    const second = await preparePrivateDir(root);
    expect(second.dir).toBe(first.dir);
    expect(await readdir(first.dir)).toContain('task-a.yaml');
  });

  it('given the directory of a worker of ours killed with SIGKILL, should remove it and its file when a worker starts', async () => {
    const root = await mkdtemp(join(base, 'dead-'));
    const dead = await hold(root);
    await kill9(dead.child);
    expect(running(dead.child.pid!)).toBe(false);
    const r = await preparePrivateDir(root);
    expect(await exists(dead.dir)).toBe(false);
    expect(r.removed).toEqual([basename(dead.dir)]);
    expect(await readdir(root)).toEqual([basename(r.dir)]);
  });
});
