/**
 * What the worker tells the people who run it: one JSON object per log line
 * (the SDK's own lines and ours), each carrying the workflow and the DM
 * source it concerns, and the SDK's metrics for Prometheus.
 *
 *   DM_SWITCH_LOG_LEVEL       TRACE, DEBUG, INFO (default), WARN, ERROR
 *   DM_SWITCH_METRICS_LISTEN  host:port of the Prometheus endpoint (/metrics), or a port on 127.0.0.1; unset: off
 *
 * Besides the SDK's own (temporal_*), the endpoint carries the switches'
 * metrics (dm_switch_*, common/switch/metrics.ts).
 */
import type { Context } from '@temporalio/activity';
import { defaultPayloadConverter } from '@temporalio/common';
import {
  DefaultLogger,
  Runtime,
  type ActivityInboundCallsInterceptor,
  type ActivityOutboundCallsInterceptor,
  type LogEntry,
  type LogLevel,
} from '@temporalio/worker';
import { SOURCE_HEADER } from '../common/switch/ids.js';
import { METRIC_BUCKETS } from '../common/switch/metrics.js';
import { metricsListen } from './metrics.js';

const LEVELS: LogLevel[] = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'];

export function jsonLogLine(entry: LogEntry): string {
  const { sdkComponent, ...meta } = (entry.meta ?? {}) as Record<string, unknown>;
  return JSON.stringify({
    time: new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString(),
    level: entry.level.toLowerCase(),
    msg: entry.message,
    ...(sdkComponent ? { component: sdkComponent } : {}),
    ...meta,
  });
}

/**
 * Installs the process-wide runtime: JSON logs to stdout, Prometheus metrics if asked. Call once, before any
 * connection.
 */
export function installRuntime(env: NodeJS.ProcessEnv = process.env): { metrics?: string } {
  const level = (env.DM_SWITCH_LOG_LEVEL ?? 'INFO').toUpperCase() as LogLevel;
  if (!LEVELS.includes(level))
    throw new Error(`DM_SWITCH_LOG_LEVEL must be one of ${LEVELS.join(', ')}, not ${env.DM_SWITCH_LOG_LEVEL}`);
  const metrics = metricsListen(env.DM_SWITCH_METRICS_LISTEN);
  Runtime.install({
    logger: new DefaultLogger(level, (entry) => process.stdout.write(`${jsonLogLine(entry)}\n`)),
    ...(metrics
      ? {
          telemetryOptions: {
            metrics: { prometheus: { bindAddress: metrics, histogramBucketOverrides: METRIC_BUCKETS } },
          },
        }
      : {}),
  });
  return { metrics };
}

/**
 * Adds the DM source and cluster an activity works on to each of its log
 * lines (the SDK adds the workflow and activity), and logs its end at INFO
 * with how long it took.
 */
export function activityLogInterceptors(ctx: Context): {
  inbound: ActivityInboundCallsInterceptor;
  outbound: ActivityOutboundCallsInterceptor;
} {
  let about: Record<string, unknown> = {};
  return {
    inbound: {
      async execute(input, next) {
        const arg = input.args[0] as
          { sourceId?: unknown; dmCluster?: unknown; host?: unknown; instance?: { host?: unknown } } | undefined;
        const header = input.headers[SOURCE_HEADER];
        const sourceId = header ? defaultPayloadConverter.fromPayload<string>(header) : arg?.sourceId;
        about = {
          ...(typeof sourceId === 'string' ? { sourceId } : {}),
          ...(typeof arg?.dmCluster === 'string' ? { dmCluster: arg.dmCluster } : {}),
          ...(typeof arg?.host === 'string'
            ? { instance: arg.host }
            : typeof arg?.instance?.host === 'string'
              ? { instance: arg.instance.host }
              : {}),
        };
        const started = Date.now();
        try {
          const result = await next(input);
          ctx.log.info('activity done', { durationMs: Date.now() - started });
          return result;
        } catch (e) {
          ctx.log.warn('activity failed', { durationMs: Date.now() - started, error: (e as Error).message });
          throw e;
        }
      },
    },
    outbound: {
      getLogAttributes(input, next) {
        return next({ ...input, ...about });
      },
    },
  };
}
