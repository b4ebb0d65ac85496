/**
 * The readiness drills' latest table as Prometheus gauges (names in READINESS_METRICS), read from Temporal every
 * interval like the switches' gauges (worker/metrics.ts), with the same labels (`dm_cluster`, `source`): every drill
 * schedule of the namespace (dm-switch-readiness/<cluster>), the newest drill of each that finished, each source in
 * it. A source no longer in its cluster's drill keeps its series, with `dm_switch_readiness_listed` 0 (the SDK's meter
 * cannot drop a series): the alerts join on `listed == 1`.
 */
import { Periodic } from './periodic.js';
import type { Client } from '@temporalio/client';
import type { MetricGauge, MetricMeter, MetricTags } from '@temporalio/common';
import { latestReadiness, readinessClusters } from '../client/readiness.js';

export const READINESS_METRICS = {
  ready: {
    name: 'dm_switch_ready',
    help: '1 when the latest readiness drill found the source switchable now (a target qualifies, no reason against)',
  },
  age: {
    name: 'dm_switch_readiness_age_seconds',
    help: 'Seconds since the latest readiness drill that finished checked the source',
  },
  listed: {
    name: 'dm_switch_readiness_listed',
    help: "1 while the source is in its DM cluster's latest readiness drill; 0: it was, and is no longer",
  },
  interval: {
    name: 'dm_switch_readiness_interval_seconds',
    help: "The interval of the DM cluster's readiness drill schedule",
  },
} as const;

export class ReadinessGauges {
  private readonly gauges: Record<keyof typeof READINESS_METRICS, MetricGauge>;
  private readonly seen = new Map<string, MetricTags>();
  private readonly loop: Periodic;

  constructor(
    private readonly client: Client,
    meter: MetricMeter,
    private readonly opts: { intervalMs: number; warn?: (message: string) => void },
  ) {
    this.loop = new Periodic(
      () => this.collect(),
      opts.intervalMs,
      (e) => opts.warn?.(`dm-switch metrics: could not read the readiness drills: ${e.message}`),
    );
    const make = (m: { name: string; help: string }) => meter.createGauge(m.name, 'float', '', m.help);
    this.gauges = {
      ready: make(READINESS_METRICS.ready),
      age: make(READINESS_METRICS.age),
      listed: make(READINESS_METRICS.listed),
      interval: make(READINESS_METRICS.interval),
    };
  }

  /** Collects now, then every interval until stop(). */
  start(): this {
    this.loop.start();
    return this;
  }

  stop(): Promise<void> {
    return this.loop.stop();
  }

  /** One reading: every cluster's latest finished drill. */
  async collect(now = () => Date.now()): Promise<void> {
    const listed = new Set<string>();
    for (const cluster of await readinessClusters(this.client)) {
      const l = await latestReadiness(this.client, cluster);
      if (!l) continue;
      if (l.everySeconds !== null) this.gauges.interval.set(l.everySeconds, { dm_cluster: cluster });
      for (const s of l.report?.sources ?? []) {
        const tags = { dm_cluster: s.dmCluster, source: s.sourceId };
        const key = JSON.stringify(tags);
        listed.add(key);
        this.seen.set(key, tags);
        this.gauges.ready.set(s.ready ? 1 : 0, tags);
        this.gauges.age.set(Math.max(0, (now() - Date.parse(s.checkedAt)) / 1000), tags);
        this.gauges.listed.set(1, tags);
      }
    }
    for (const [key, tags] of this.seen) if (!listed.has(key)) this.gauges.listed.set(0, tags);
  }
}
