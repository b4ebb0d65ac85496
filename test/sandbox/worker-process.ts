/**
 * The real worker as its own process (`worker/main.ts`, as operators run
 * it), so a test can kill it with SIGKILL mid-switch and start it again:
 * the crash is real, not simulated.
 */
import { execa, type ResultPromise } from 'execa';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = join(import.meta.dirname, '../..');

export interface WorkerProcess {
  /** SIGKILL: no shutdown, in-flight activities simply stop. */
  kill9(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** How many times it was started. */
  readonly starts: number;
  /** How many times it died on its own (and, with autoRestart, was started again). */
  readonly crashes: number;
  /** The running process's pid (undefined while it is not running). */
  readonly pid: number | undefined;
  /** Environment for the next starts (on top of `env`). */
  setEnv(env: Record<string, string>): void;
  /** Resolves once the worker has died on its own `n` times in all and runs again. */
  crashed(n: number, timeoutMs?: number): Promise<void>;
  log(): Promise<string>;
}

export interface WorkerProcessOptions {
  configYaml: string;
  temporalAddress: string;
  env?: Record<string, string>;
  /** The entry point, default worker/main.ts; the crash tests use test/sandbox/crash-after.ts. */
  entry?: string;
  /** Start it again whenever it dies on its own (the tests' kill-after-effect worker kills itself). */
  autoRestart?: boolean;
}

export async function startWorkerProcess(opts: WorkerProcessOptions): Promise<WorkerProcess> {
  const dir = await mkdtemp(join(tmpdir(), 'dsw-worker-'));
  const configPath = join(dir, 'worker.yaml');
  const logPath = join(dir, 'worker.log');
  await writeFile(configPath, opts.configYaml);
  let child: ResultPromise | null = null;
  let starts = 0;
  let crashes = 0;
  let running = false;
  let extraEnv: Record<string, string> = {};

  const start = async (): Promise<void> => {
    if (child) throw new Error('the worker process is already running');
    starts++;
    running = false;
    const p = execa(process.execPath, ['--import', 'tsx', opts.entry ?? join(root, 'worker/main.ts')], {
      cwd: root,
      env: {
        ...opts.env,
        ...extraEnv,
        DM_SWITCH_CONFIG: configPath,
        TEMPORAL_ADDRESS: opts.temporalAddress,
        TEMPORAL_NAMESPACE: 'default',
      },
      stdout: { file: logPath, append: true },
      stderr: { file: logPath, append: true },
      reject: false,
      stdin: 'ignore',
    });
    child = p;
    const exited = p.then(() => true);
    void p.then(() => {
      // died on its own (not kill9/stop, which clear `child` first)
      if (child !== p || !running) return;
      child = null;
      crashes++;
      if (opts.autoRestart) void start().catch((e: Error) => console.error(`worker restart failed: ${e.message}`));
    });
    const deadline = Date.now() + 60_000;
    for (;;) {
      const log = await readFile(logPath, 'utf8').catch(() => '');
      // one "task queue" line per start: wait for this start's
      if ((log.match(/dm-switch worker: task queue/g) ?? []).length >= starts) {
        running = true;
        return;
      }
      if (await Promise.race([exited, new Promise<false>((r) => setTimeout(() => r(false), 100))])) {
        if (child === p) child = null;
        throw new Error(`the worker exited while starting:\n${log.slice(-3000)}`);
      }
      if (Date.now() > deadline) throw new Error(`the worker did not start within 60 s:\n${log.slice(-3000)}`);
    }
  };

  const w: WorkerProcess = {
    get starts() {
      return starts;
    },
    get crashes() {
      return crashes;
    },
    get pid() {
      return child?.pid;
    },
    setEnv(env) {
      extraEnv = { ...env };
    },
    async crashed(n, timeoutMs = 180_000) {
      const deadline = Date.now() + timeoutMs;
      while (!(crashes >= n && child && running)) {
        if (Date.now() > deadline)
          throw new Error(
            `the worker did not crash ${n} time(s) and run again within ${timeoutMs} ms (crashes: ${crashes})`,
          );
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    start,
    async kill9() {
      const c = child;
      child = null;
      if (!c) return;
      c.kill('SIGKILL');
      await c;
    },
    async stop() {
      const c = child;
      child = null;
      if (c) {
        c.kill('SIGINT');
        const t = setTimeout(() => c.kill('SIGKILL'), 15_000);
        await c;
        clearTimeout(t);
      }
      await rm(dir, { recursive: true, force: true });
    },
    log: () => readFile(logPath, 'utf8').catch(() => ''),
  };
  await start();
  return w;
}
