/**
 * A real Alertmanager (Debian's `prometheus-alertmanager`, installed by
 * scripts/setup.sh) on loopback, clustering off, with the configuration
 * given; alerts are posted to its own API v2, as Prometheus posts them.
 */
import { execa } from 'execa';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';
import { waitUntilReady } from './ready.js';

export interface PostedAlert {
  labels: Record<string, string>;
  annotations?: Record<string, string>;
  startsAt?: string;
  /** In the past: resolved. */
  endsAt?: string;
}

export interface Alertmanager {
  url: string;
  /** The directory its configuration is in (for files it names, e.g. a credentials_file). */
  dir: string;
  post(alerts: PostedAlert[]): Promise<void>;
  /** One of its own counters from /metrics, summed over the label sets that have `match` in their labels. */
  counter(name: string, match?: string): Promise<number>;
  stop(): Promise<void>;
}

/** `config(dir)` yields the YAML, given the directory it will live in. */
export async function startAlertmanager(config: (dir: string) => Promise<string> | string, binary = 'prometheus-alertmanager'): Promise<Alertmanager> {
  const dir = await mkdtemp(join(tmpdir(), 'dsw-alertmanager-'));
  const port = await freePort();
  await writeFile(join(dir, 'alertmanager.yml'), await config(dir));
  const logPath = join(dir, 'alertmanager.log');
  const proc = execa(binary, [`--config.file=${join(dir, 'alertmanager.yml')}`, `--storage.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--cluster.listen-address='], {
    stdout: { file: logPath },
    stderr: { file: logPath },
    reject: false,
    stdin: 'ignore',
  });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitUntilReady({
      what: 'alertmanager',
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
    async post(alerts) {
      const r = await fetch(`${url}/api/v2/alerts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(alerts) });
      if (!r.ok) throw new Error(`alertmanager POST /api/v2/alerts: ${r.status} ${await r.text()}`);
    },
    async counter(name, match = '') {
      const text = await (await fetch(`${url}/metrics`)).text();
      return text
        .split('\n')
        .filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))
        .filter((l) => l.includes(match))
        .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
    },
    async stop() {
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      await proc;
      clearTimeout(t);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
