/**
 * A real Prometheus (Debian's `prometheus`, installed by scripts/setup.sh)
 * on loopback, scraping the given targets every second and evaluating the
 * given rule files every second; queried through its HTTP API.
 */
import { join } from 'node:path';
import { stringify } from 'yaml';
import { startPromDaemon } from './prom-daemon.js';

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

export async function startPrometheus(opts: {
  targets: string[];
  ruleFiles?: string[];
  binary?: string;
}): Promise<Prometheus> {
  const config = {
    global: { scrape_interval: '1s', evaluation_interval: '1s', scrape_timeout: '1s' },
    rule_files: opts.ruleFiles ?? [],
    scrape_configs: [{ job_name: 'dm-switch-worker', static_configs: [{ targets: opts.targets }] }],
  };
  const daemon = await startPromDaemon({
    what: 'prometheus',
    binary: opts.binary ?? 'prometheus',
    config: () => stringify(config),
    args: (dir) => [`--storage.tsdb.path=${join(dir, 'data')}`],
  });
  const url = daemon.url;
  const api = async <T>(path: string): Promise<T> => {
    const r = await fetch(`${url}${path}`);
    const body = (await r.json()) as { status: string; data: T; error?: string };
    if (body.status !== 'success') throw new Error(`prometheus ${path}: ${body.error ?? r.status}`);
    return body.data;
  };
  return {
    url,
    async query(expr) {
      const data = await api<{
        resultType: string;
        result: Array<{ metric: Record<string, string>; value: [number, string] }>;
      }>(`/api/v1/query?query=${encodeURIComponent(expr)}`);
      return data.result.map((s) => ({ metric: s.metric, value: Number(s.value[1]) }));
    },
    async alerts() {
      return (
        await api<{
          alerts: Array<{ labels: Record<string, string>; state: string; annotations: Record<string, string> }>;
        }>('/api/v1/alerts')
      ).alerts;
    },
    async scrapedAfter(since, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const targets = await api<{ activeTargets: Array<{ lastScrape: string; health: string }> }>('/api/v1/targets');
        if (
          targets.activeTargets.length &&
          targets.activeTargets.every((t) => Date.parse(t.lastScrape) > since && t.health === 'up')
        )
          return;
        if (Date.now() > deadline)
          throw new Error(
            `prometheus did not scrape ${opts.targets.join(', ')} after ${new Date(since).toISOString()}: ${JSON.stringify(targets.activeTargets)}`,
          );
        await new Promise((r) => setTimeout(r, 200));
      }
    },
    stop: () => daemon.stop(),
  };
}
