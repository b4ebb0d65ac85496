/**
 * Starting one of the Prometheus project's servers (Debian's `prometheus`,
 * `prometheus-alertmanager`) on a free loopback port, its configuration and
 * data in a temp directory, its log kept for errors; ready once `/-/ready`
 * answers. `stop()` ends it and removes the directory.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startDaemon } from './daemon.js';
import { freePort } from './ports.js';

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
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const daemon = await startDaemon({
    what: o.what,
    binary: o.binary,
    prepare: async (dir) => {
      const configPath = join(dir, `${o.what}.yml`);
      await writeFile(configPath, await o.config(dir));
      return [`--config.file=${configPath}`, `--web.listen-address=127.0.0.1:${port}`, ...o.args(dir)];
    },
    probe: async () => {
      const r = await fetch(`${url}/-/ready`);
      if (!r.ok) throw new Error(`/-/ready: ${r.status}`);
    },
  });
  return { url, ...daemon };
}
