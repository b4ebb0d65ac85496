/**
 * A real Alertmanager (Debian's `prometheus-alertmanager`, installed by
 * scripts/setup.sh) on loopback, clustering off, with the configuration
 * given; alerts are posted to its own API v2, as Prometheus posts them.
 */
import { join } from 'node:path';
import { startPromDaemon } from './prom-daemon.js';

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
export async function startAlertmanager(
  config: (dir: string) => Promise<string> | string,
  binary = 'prometheus-alertmanager',
): Promise<Alertmanager> {
  const daemon = await startPromDaemon({
    what: 'alertmanager',
    binary,
    config,
    args: (dir) => [`--storage.path=${join(dir, 'data')}`, '--cluster.listen-address='],
  });
  const { url, dir } = daemon;
  return {
    url,
    dir,
    async post(alerts) {
      const r = await fetch(`${url}/api/v2/alerts`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(alerts),
      });
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
    stop: () => daemon.stop(),
  };
}
