/**
 * Starting a server the sandbox runs as a plain daemon (Jaeger, Prometheus, Alertmanager): a temp directory
 * for its configuration, data and log (its working directory too), the process with its output in the log,
 * ready once `probe` passes (the log's tail in the error otherwise, and the process killed). `stop()` sends
 * SIGTERM (SIGKILL after 10 s) and removes the directory.
 */
import { execa } from 'execa';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitUntilReady } from './ready.js';

export interface Daemon {
  dir: string;
  stop(): Promise<void>;
}

export async function startDaemon(o: {
  /** Names the temp directory (dsw-<what>-…), the log (<what>.log) and the server in errors. */
  what: string;
  binary: string;
  /** Writes what the server reads into its directory; returns its arguments. */
  prepare: (dir: string) => Promise<string[]>;
  /** Resolves once the server serves; throws while it does not yet. */
  probe: () => Promise<void>;
}): Promise<Daemon> {
  const dir = await mkdtemp(join(tmpdir(), `dsw-${o.what}-`));
  const logPath = join(dir, `${o.what}.log`);
  let proc;
  try {
    proc = execa(o.binary, await o.prepare(dir), {
      stdout: { file: logPath },
      stderr: { file: logPath },
      reject: false,
      stdin: 'ignore',
      cwd: dir,
    });
    await waitUntilReady({
      what: o.what,
      process: proc,
      probe: o.probe,
      diagnostics: async () => `log ${logPath}:\n${(await readFile(logPath, 'utf8').catch(() => '')).slice(-3000)}`,
    });
  } catch (e) {
    proc?.kill('SIGKILL');
    await proc;
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
  const running = proc;
  return {
    dir,
    async stop() {
      running.kill('SIGTERM');
      const t = setTimeout(() => running.kill('SIGKILL'), 10_000);
      await running;
      clearTimeout(t);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
