/**
 * Stopping `npm start` with a signal, as a supervisor (or `kill`) does: the
 * real `npm start` (npm, its shell, scripts/start.ts, the whole sandbox), in a
 * process group of its own so the signal reaches only the npm process, the one
 * a supervisor started. After SIGINT and after SIGTERM: no process of the
 * stack left, no network namespace of its VIP lab, nothing in its sandbox
 * directory, and none of the temporary directories TiDB makes by default in
 * the system's temporary directory (`<uid>_tidb/<base64 of host:port/…>`,
 * `tidb/tmp_ddl-<port>`).
 */
import { execa } from 'execa';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { freePort } from '../sandbox/ports.js';

const root = join(import.meta.dirname, '../..');

/** A process's start time (field 22 of /proc/<pid>/stat), so a reused pid is not taken for the one seen. */
function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
  } catch {
    return '';
  }
}

interface Seen {
  pid: number;
  start: string;
  command: string;
}

/** Every process below `top`, with its start time. */
function descendants(top: number): Seen[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    const parent = parentOf(pid);
    if (parent !== undefined) children.set(parent, [...(children.get(parent) ?? []), pid]);
  }
  const out: Seen[] = [];
  const todo = [...(children.get(top) ?? [])];
  while (todo.length) {
    const pid = todo.pop()!;
    const start = startTime(pid);
    if (start) out.push({ pid, start, command: commandOf(pid) });
    todo.push(...(children.get(pid) ?? []));
  }
  return out;
}

const alive = (seen: Seen[]) => seen.filter((p) => startTime(p.pid) === p.start);

async function netnsList(): Promise<string[]> {
  return (await execa('ip', ['netns', 'list'])).stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter(Boolean);
}

/**
 * What TiDB left in the system's temporary directory for the server on `port` since `since` (ms): an older one is
 * another run's that had the same port.
 */
function tidbLeftovers(port: number, since: number): string[] {
  const tmp = tmpdir();
  const uid = process.getuid?.() ?? 0;
  const found: string[] = [];
  const storage = join(tmp, `${uid}_tidb`);
  if (existsSync(storage))
    for (const name of readdirSync(storage))
      if (
        Buffer.from(name, 'base64')
          .toString()
          .match(/:(\d+)\//)?.[1] === String(port)
      )
        found.push(join(storage, name));
  const ddl = join(tmp, 'tidb', `tmp_ddl-${port}`);
  if (existsSync(ddl)) found.push(ddl);
  return found.filter((path) => statSync(path).mtimeMs >= since - 1000);
}

async function startThenSignal(signal: 'SIGINT' | 'SIGTERM') {
  const started = Date.now();
  const sandbox = await mkdtemp(join(tmpdir(), 'dm-switch-start-signal-'));
  const state = await mkdtemp(join(tmpdir(), 'dm-switch-start-state-'));
  const args = ['start', '--', '--state', state];
  for (const flag of ['--port', '--ui-port', '--webhook-port']) args.push(flag, String(await freePort()));
  const proc = execa('npm', args, {
    cwd: root,
    env: { DM_SWITCH_SANDBOX_DIR: sandbox },
    // its own process group: the signal reaches npm alone, as from a supervisor or `kill`, not a terminal's group
    detached: true,
    reject: false,
    all: true,
    stdin: 'ignore',
  });
  let out = '';
  proc.all?.on('data', (b: Buffer) => (out += b.toString()));
  const exited = proc.then(() => true);
  let seen: Seen[] = [];
  try {
    for (let t = Date.now(); !/\[dm-switch\] ready in/.test(out); await sleep(250)) {
      if (Date.now() - t > 240_000 || proc.exitCode !== null) throw new Error(`npm start did not get ready:\n${out}`);
    }
    seen = descendants(proc.pid!);
    const netns = out.match(/namespaces ([\w, ]+)\)/)?.[1]?.split(', ') ?? [];
    const tidbPort = Number(out.match(/downstream: TiDB [\d.]+:(\d+)/)?.[1]);
    expect(netns.length, out).toBeGreaterThan(0);
    expect((await netnsList()).filter((n) => netns.includes(n)).sort()).toEqual([...netns].sort());
    expect(tidbPort, out).toBeGreaterThan(0);
    expect(seen.length).toBeGreaterThan(5);

    const ready = out;
    const banner = await readFile(join(state, 'banner.txt'), 'utf8').catch(() => '');
    process.kill(proc.pid!, signal);
    const stopped = await Promise.race([exited, sleep(90_000).then(() => false)]);
    // a helper whose parent is gone ends when it sees its pipe close (tsx's esbuild service): a moment's grace
    for (let t = Date.now(); stopped && alive(seen).length && Date.now() - t < 5000;) await sleep(200);
    return {
      out,
      ready,
      banner,
      stopped,
      left: alive(seen).map((p) => `${p.pid} ${p.command}`),
      netnsLeft: (await netnsList()).filter((n) => netns.includes(n)),
      sandboxLeft: await readdir(sandbox),
      tidbLeft: tidbLeftovers(tidbPort, started),
    };
  } finally {
    // whatever the signal did not stop, stopped the way a terminal's Ctrl-C would, so nothing outlives the test
    for (const p of alive(seen)) if (/scripts\/start\.ts/.test(p.command)) process.kill(p.pid, 'SIGINT');
    for (let t = Date.now(); alive(seen).length && Date.now() - t < 60_000;) await sleep(500);
    for (const p of alive(seen)) process.kill(p.pid, 'SIGKILL');
    if (proc.exitCode === null) proc.kill('SIGKILL');
    await rm(sandbox, { recursive: true, force: true });
    await rm(state, { recursive: true, force: true });
  }
}

const runs: Partial<Record<string, Awaited<ReturnType<typeof startThenSignal>>>> = {};

describe('npm start, stopped by a signal to the npm process', () => {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`given ${signal}, should stop all it started: no process, namespace or TiDB directory left`, async () => {
      const r = await startThenSignal(signal);
      runs[signal] = r;
      expect(r.stopped, `npm start still running 90 s after ${signal}:\n${r.out}`).toBe(true);
      expect(r.out).toMatch(/\[dm-switch\] stopped$/m);
      expect(r.left, r.out).toEqual([]);
      expect(r.netnsLeft).toEqual([]);
      expect(r.sandboxLeft).toEqual([]);
      expect(r.tidbLeft).toEqual([]);
    }, 480_000);
  }

  it('should print one line per event until ready, no bundle statistics, then the banner kept in banner.txt', () => {
    const r = runs.SIGINT;
    expect(r, 'the SIGINT case did not get as far as ready').toBeDefined();
    const lines = r!.ready.trimEnd().split('\n');
    // npm's own lines, the progress of the stack (a line per component), the worker's events, the banner
    expect(lines.length, r!.ready).toBeLessThan(70);
    expect(r!.ready).not.toMatch(/webpack|orphan modules|\[built\]|taskToken/);
    for (const line of lines.filter((l) => l && !l.startsWith('>') && !l.startsWith('setup:')))
      expect(line, 'a line that is neither ours nor a one-line worker event').toMatch(
        /^(\[dm-switch\] |\d\d:\d\d:\d\d\.\d{3} (TRACE|DEBUG|INFO |WARN |ERROR) )/,
      );
    const banner = r!.banner.trimEnd().split('\n');
    expect(banner.length).toBeGreaterThan(10);
    expect(lines.slice(-banner.length)).toEqual(banner.map((l) => `[dm-switch] ${l}`));
  });
});
