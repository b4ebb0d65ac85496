/**
 * A real Prometheus (Debian's `prometheus`, installed by scripts/setup.sh)
 * on loopback, scraping the given targets every second and evaluating the
 * given rule files every second; queried through its HTTP API.
 */
import { execa } from 'execa';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { freePort } from './ports.js';
import { waitUntilReady } from './ready.js';

export interface PromSample {
  metric: Record<string, string>;
  value: number;
}

export interface Prometheus {
  url: string;
  /** An instant query: every sample of the resulting vector. */
  query(expr: string): Promise<PromSample[]>;
  /** The alerts Prometheus holds now (pending or firing). */
  alerts(): Promise<Array<{ labels: Record<string, string>; state: string; annotations: Record<string, string> }>>;
  /** Waits until the targets were scraped after `since` (ms): what they exported by then is queryable. */
  scrapedAfter(since: number, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startPrometheus(opts: { targets: string[]; ruleFiles?: string[]; binary?: string }): Promise<Prometheus> {
  const dir = await mkdtemp(join(tmpdir(), 'dsw-prometheus-'));
  const port = await freePort();
  const config = {
    global: { scrape_interval: '1s', evaluation_interval: '1s', scrape_timeout: '1s' },
    rule_files: opts.ruleFiles ?? [],
    scrape_configs: [{ job_name: 'dm-switch-worker', static_configs: [{ targets: opts.targets }] }],
  };
  await writeFile(join(dir, 'prometheus.yml'), stringify(config));
  const logPath = join(dir, 'prometheus.log');
  const proc = execa(opts.binary ?? 'prometheus', [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], {
    stdout: { file: logPath },
    stderr: { file: logPath },
    reject: false,
    stdin: 'ignore',
  });
  const url = `http://127.0.0.1:${port}`;
  const diagnostics = async () => `log ${logPath}:\n${(await readFile(logPath, 'utf8').catch(() => '')).slice(-3000)}`;
  try {
    await waitUntilReady({
      what: 'prometheus',
      process: proc,
      probe: async () => {
        const r = await fetch(`${url}/-/ready`);
        if (!r.ok) throw new Error(`/-/ready: ${r.status}`);
      },
      diagnostics,
    });
  } catch (e) {
    proc.kill('SIGKILL');
    throw e;
  }
  const api = async <T>(path: string): Promise<T> => {
    const r = await fetch(`${url}${path}`);
    const body = (await r.json()) as { status: string; data: T; error?: string };
    if (body.status !== 'success') throw new Error(`prometheus ${path}: ${body.error ?? r.status}`);
    return body.data;
  };
  return {
    url,
    async query(expr) {
      const data = await api<{ resultType: string; result: Array<{ metric: Record<string, string>; value: [number, string] }> }>(`/api/v1/query?query=${encodeURIComponent(expr)}`);
      return data.result.map((s) => ({ metric: s.metric, value: Number(s.value[1]) }));
    },
    async alerts() {
      return (await api<{ alerts: Array<{ labels: Record<string, string>; state: string; annotations: Record<string, string> }> }>('/api/v1/alerts')).alerts;
    },
    async scrapedAfter(since, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const targets = await api<{ activeTargets: Array<{ lastScrape: string; health: string }> }>('/api/v1/targets');
        if (targets.activeTargets.length && targets.activeTargets.every((t) => Date.parse(t.lastScrape) > since && t.health === 'up')) return;
        if (Date.now() > deadline) throw new Error(`prometheus did not scrape ${opts.targets.join(', ')} after ${new Date(since).toISOString()}: ${JSON.stringify(targets.activeTargets)}`);
        await new Promise((r) => setTimeout(r, 200));
      }
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
