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
  log(): Promise<string>;
}

export async function startWorkerProcess(opts: { configYaml: string; temporalAddress: string; env?: Record<string, string> }): Promise<WorkerProcess> {
  const dir = await mkdtemp(join(tmpdir(), 'dsw-worker-'));
  const configPath = join(dir, 'worker.yaml');
  const logPath = join(dir, 'worker.log');
  await writeFile(configPath, opts.configYaml);
  let child: ResultPromise | null = null;
  let starts = 0;

  const start = async () => {
    if (child) throw new Error('the worker process is already running');
    starts++;
    const p = execa(process.execPath, ['--import', 'tsx', join(root, 'worker/main.ts')], {
      cwd: root,
      env: { ...opts.env, DM_SWITCH_CONFIG: configPath, TEMPORAL_ADDRESS: opts.temporalAddress, TEMPORAL_NAMESPACE: 'default' },
      stdout: { file: logPath, append: true },
      stderr: { file: logPath, append: true },
      reject: false,
      stdin: 'ignore',
    });
    child = p;
    const exited = p.then(() => true);
    const deadline = Date.now() + 60_000;
    for (;;) {
      const log = await readFile(logPath, 'utf8').catch(() => '');
      // one "task queue" line per start: wait for this start's
      if ((log.match(/dm-switch worker: task queue/g) ?? []).length >= starts) return;
      if (await Promise.race([exited, new Promise<false>((r) => setTimeout(() => r(false), 100))])) {
        child = null;
        throw new Error(`the worker exited while starting:\n${log.slice(-3000)}`);
      }
      if (Date.now() > deadline) throw new Error(`the worker did not start within 60 s:\n${log.slice(-3000)}`);
    }
  };

  const w: WorkerProcess = {
    get starts() {
      return starts;
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
