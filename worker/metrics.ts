/**
 * The current state of the switches as Prometheus gauges (names in
 * common/switch/metrics.ts): every DM_SWITCH_METRICS_INTERVAL_SECONDS the
 * worker lists the running switches of its namespace from Temporal's
 * visibility, asks each for its status (phase, the gate waiting, since when
 * DM is frozen), and lists the switches closed within the lookback to find
 * the sources whose latest switch ended needs-operator.
 *
 * Read from Temporal, not kept in memory, so that the figures are right
 * whichever worker runs a switch, after a worker restarts, and for a switch
 * no worker runs at all (then from its search attributes alone). A label
 * set that is no longer current is set to 0, not dropped (the SDK's meter
 * cannot drop one): alert on `== 1` / `> 0`.
 */
import { Periodic } from './periodic.js';
import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import type { MetricGauge, MetricMeter, MetricTags } from '@temporalio/common';
import { METRICS } from '../common/switch/metrics.js';
import { statusQuery } from '../common/switch/messages.js';
import type { SwitchStatus } from '../common/switch/status.js';
import { ConfigError } from './config.js';

const TYPES = ['vipSwitch', 'addressSwitch'];
const KIND: Record<string, string> = { vipSwitch: 'vip-switch', addressSwitch: 'address-switch' };

export interface SwitchGaugeOptions {
  intervalMs: number;
  /** How far back a needs-operator switch still counts (a later switch of the source ends it sooner). */
  lookbackMs: number;
  /** How long one status query may take (a switch no worker can answer for is shown from its search attributes). */
  queryTimeoutMs?: number;
  /** Only switches on this task queue (this worker's); the namespace is the client's. */
  taskQueue?: string;
  /**
   * Status queries at once (default 4), and at most this many switches queried per reading (default 200; the rest from
   * search attributes).
   */
  queryConcurrency?: number;
  maxQueried?: number;
  warn?: (message: string) => void;
}

/** Numbers in environment variables, with the variable named when one is wrong. */
export function switchGaugeOptions(
  env: NodeJS.ProcessEnv = process.env,
): Pick<SwitchGaugeOptions, 'intervalMs' | 'lookbackMs'> {
  const num = (name: string, dflt: number) => {
    const raw = env[name]?.trim();
    if (!raw) return dflt;
    const n = Number(raw);
    if (!Number.isFinite(n) || n <= 0)
      throw new ConfigError(`${name} must be a positive number, not ${JSON.stringify(env[name])}`);
    return n;
  };
  return {
    intervalMs: num('DM_SWITCH_METRICS_INTERVAL_SECONDS', 15) * 1000,
    lookbackMs: num('DM_SWITCH_METRICS_LOOKBACK_HOURS', 24) * 3_600_000,
  };
}

/** A gauge whose label sets no longer reported are set to 0. */
class StateGauge {
  private readonly seen = new Map<string, MetricTags>();
  private readonly gauge: MetricGauge;
  constructor(meter: MetricMeter, m: { name: string; help: string }, type: 'int' | 'float' = 'int') {
    this.gauge = meter.createGauge(m.name, type, '', m.help);
  }
  publish(values: Array<{ tags: MetricTags; value: number }>): void {
    const now = new Set<string>();
    for (const { tags, value } of values) {
      const key = JSON.stringify(Object.entries(tags).sort(([a], [b]) => a.localeCompare(b)));
      now.add(key);
      this.seen.set(key, tags);
      this.gauge.set(value, tags);
    }
    for (const [key, tags] of this.seen) if (!now.has(key)) this.gauge.set(0, tags);
  }
}

interface SwitchRow {
  workflowId: string;
  source: string;
  dmCluster: string;
  kind: string;
  phase: string;
  outcome: string;
  closeTime?: Date;
}

function row(w: WorkflowExecutionInfo): SwitchRow {
  const sa = w.searchAttributes as Record<string, unknown[] | undefined>;
  // dm-switch/<cluster>/<source>, for a switch no worker has run yet (no search attributes)
  const [, cluster, ...source] = w.workflowId.split('/');
  return {
    workflowId: w.workflowId,
    source: String(sa.DmSwitchSource?.[0] ?? source.join('/')),
    dmCluster: String(sa.DmSwitchCluster?.[0] ?? cluster ?? ''),
    kind: String(sa.DmSwitchKind?.[0] ?? KIND[w.type] ?? w.type),
    phase: String(sa.DmSwitchPhase?.[0] ?? 'not-started'),
    outcome: String(sa.DmSwitchOutcome?.[0] ?? ''),
    closeTime: w.closeTime,
  };
}

/** `f` over `items`, at most `limit` at once, results in order. */
export async function boundedMap<T, R>(items: T[], limit: number, f: (x: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await f(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return out;
}

/**
 * Where the Prometheus endpoint listens: `host:port` as given, or a bare
 * port (`9464`, `:9464`) on loopback only; another address must be named.
 */
export function metricsListen(value: string | undefined): string | undefined {
  const v = value?.trim();
  if (!v) return undefined;
  const port = /^:?(\d{1,5})$/.exec(v);
  if (port) return `127.0.0.1:${port[1]}`;
  if (!/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(v))
    throw new ConfigError(
      `DM_SWITCH_METRICS_LISTEN must be host:port or a port (then 127.0.0.1), not ${JSON.stringify(value)}`,
    );
  return v;
}

export class SwitchGauges {
  private readonly running: StateGauge;
  private readonly waiting: StateGauge;
  private readonly frozen: StateGauge;
  private readonly needsOperator: StateGauge;
  private readonly up: MetricGauge;
  private readonly loop: Periodic;

  constructor(
    private readonly client: Client,
    meter: MetricMeter,
    private readonly opts: SwitchGaugeOptions,
  ) {
    this.loop = new Periodic(() => this.collect(), opts.intervalMs);
    this.running = new StateGauge(meter, METRICS.running);
    this.waiting = new StateGauge(meter, METRICS.awaitingApproval);
    this.frozen = new StateGauge(meter, METRICS.frozen, 'float');
    this.needsOperator = new StateGauge(meter, METRICS.needsOperator);
    this.up = meter.createGauge(METRICS.collectorUp.name, 'int', '', METRICS.collectorUp.help);
  }

  /** Collects now, then every interval until stop(). */
  start(): this {
    this.loop.start();
    return this;
  }

  stop(): Promise<void> {
    return this.loop.stop();
  }

  /** One reading; gauges keep their last values when it fails, and the collector-up gauge says so. */
  async collect(): Promise<void> {
    try {
      await this.read();
      this.up.set(1);
    } catch (e) {
      this.up.set(0);
      this.opts.warn?.(`dm-switch metrics: could not read the switches from Temporal: ${(e as Error).message}`);
      throw e;
    }
  }

  private async read(): Promise<void> {
    const queue = this.opts.taskQueue ? ` AND TaskQueue = '${this.opts.taskQueue.replace(/'/g, "''")}'` : '';
    const types = `WorkflowType IN (${TYPES.map((t) => `'${t}'`).join(', ')})${queue}`;
    const open: SwitchRow[] = [];
    for await (const w of this.client.workflow.list({
      query: `${types} AND ExecutionStatus = 'Running'`,
      pageSize: 100,
    }))
      open.push(row(w));
    const since = new Date(Date.now() - this.opts.lookbackMs).toISOString();
    const newest = new Map<string, SwitchRow>();
    for await (const w of this.client.workflow.list({
      query: `${types} AND ExecutionStatus != 'Running' AND CloseTime > '${since}'`,
      pageSize: 100,
    })) {
      const r = row(w);
      const seen = newest.get(r.workflowId);
      if (!seen || (r.closeTime?.getTime() ?? 0) > (seen.closeTime?.getTime() ?? 0)) newest.set(r.workflowId, r);
    }
    const statuses = await boundedMap(
      open.slice(0, this.opts.maxQueried ?? 200),
      this.opts.queryConcurrency ?? 4,
      (r) => this.status(r.workflowId),
    );
    const now = Date.now();
    const running: Array<{ tags: MetricTags; value: number }> = [];
    const waiting: Array<{ tags: MetricTags; value: number }> = [];
    const frozen: Array<{ tags: MetricTags; value: number }> = [];
    open.forEach((r, i) => {
      const s = statuses[i];
      const at = { source: r.source, dm_cluster: r.dmCluster };
      running.push({ tags: { ...at, kind: r.kind, phase: s?.phase ?? r.phase }, value: 1 });
      const pending = s?.approvals.find((a) => a.state === 'pending');
      if (pending) waiting.push({ tags: { ...at, gate: pending.gate }, value: 1 });
      else if (!s && r.phase === 'awaiting-approval') waiting.push({ tags: { ...at, gate: 'unknown' }, value: 1 });
      frozen.push({ tags: at, value: s?.frozenSince ? Math.max(0, (now - Date.parse(s.frozenSince)) / 1000) : 0 });
    });
    const busy = new Set(open.map((r) => r.workflowId));
    const stuck = [...newest.values()].filter((r) => r.outcome === 'needs-operator' && !busy.has(r.workflowId));
    this.running.publish(running);
    this.waiting.publish(waiting);
    this.frozen.publish(frozen);
    this.needsOperator.publish(stuck.map((r) => ({ tags: { source: r.source, dm_cluster: r.dmCluster }, value: 1 })));
  }

  /** The switch's status, or undefined when no worker answers in time. */
  private async status(workflowId: string): Promise<SwitchStatus | undefined> {
    try {
      return await this.client.withDeadline(Date.now() + (this.opts.queryTimeoutMs ?? 5000), () =>
        this.client.workflow.getHandle(workflowId).query(statusQuery),
      );
    } catch {
      return undefined;
    }
  }
}
