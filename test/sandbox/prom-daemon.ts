/**
 * Starting one of the Prometheus project's servers (Debian's `prometheus`,
 * `prometheus-alertmanager`) on a free loopback port, its configuration and
 * data in a temp directory, its log kept for errors; ready once `/-/ready`
 * answers. `stop()` ends it and removes the directory.
 */
import { execa } from 'execa';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';
import { waitUntilReady } from './ready.js';

export interface PromDaemon {
  url: string;
  dir: string;
  stop(): Promise<void>;
}

export async function startPromDaemon(o: {
  what: string;
  binary: string;
  /** The configuration file's text, given the directory it is written to. */
  config: (dir: string) => Promise<string> | string;
  /** The arguments besides --config.file and --web.listen-address. */
  args: (dir: string) => string[];
}): Promise<PromDaemon> {
  const dir = await mkdtemp(join(tmpdir(), `dsw-${o.what}-`));
  const port = await freePort();
  const configPath = join(dir, `${o.what}.yml`);
  await writeFile(configPath, await o.config(dir));
  const logPath = join(dir, `${o.what}.log`);
  const proc = execa(
    o.binary,
    [`--config.file=${configPath}`, `--web.listen-address=127.0.0.1:${port}`, ...o.args(dir)],
    {
      stdout: { file: logPath },
      stderr: { file: logPath },
      reject: false,
      stdin: 'ignore',
    },
  );
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitUntilReady({
      what: o.what,
      process: proc,
      probe: async () => {
        const r = await fetch(`${url}/-/ready`);
        if (!r.ok) throw new Error(`/-/ready: ${r.status}`);
      },
      diagnostics: async () => `log ${logPath}:\n${(await readFile(logPath, 'utf8').catch(() => '')).slice(-3000)}`,
    });
  } catch (e) {
    proc.kill('SIGKILL');
    await proc;
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    url,
    dir,
    async stop() {
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      await proc;
      clearTimeout(t);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
