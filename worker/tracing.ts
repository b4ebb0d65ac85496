/**
 * A switch as one trace, exported over OTLP (http/protobuf) to a collector (Jaeger, an OpenTelemetry
 * collector, …): the workflow, each activity, and inside activities each dmctl call and MySQL query
 * (activities/tracing.ts). Off unless the standard OpenTelemetry variables name a collector:
 *
 *   OTEL_EXPORTER_OTLP_ENDPOINT          e.g. http://127.0.0.1:4318 (traces go to <it>/v1/traces)
 *   OTEL_EXPORTER_OTLP_TRACES_ENDPOINT   the traces URL itself, over the one above
 *   OTEL_EXPORTER_OTLP_HEADERS           e.g. authorization=Bearer%20… (read by the exporter)
 *   OTEL_SERVICE_NAME                    default dm-switch-worker (the worker), dm-switch (the CLI)
 *   OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none   off, whatever else is set
 *
 * The workflow's spans are made inside the workflow sandbox (workflows/tracing.ts, always bundled) from
 * its deterministic randomness, and reach the exporter through a sink, which Temporal does not call while a
 * worker replays a history: a worker that takes a switch over, or replays it for every task, exports each
 * span once, with the same IDs its activities' spans point at.
 */
import { context, propagation, trace, type Attributes } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { Resource } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { Context as ActivityContext } from '@temporalio/activity';
import { OpenTelemetryWorkflowClientInterceptor } from '@temporalio/interceptors-opentelemetry/lib/client/index.js';
import {
  OpenTelemetryActivityInboundInterceptor,
  OpenTelemetryActivityOutboundInterceptor,
  makeWorkflowExporter,
} from '@temporalio/interceptors-opentelemetry/lib/worker/index.js';
import type { OpenTelemetrySinks } from '@temporalio/interceptors-opentelemetry/lib/workflow/definitions.js';
import type {
  ActivityExecuteInput,
  ActivityInboundCallsInterceptor,
  ActivityInterceptorsFactory,
  InjectedSinks,
} from '@temporalio/worker';
import { defaultPayloadConverter } from '@temporalio/common';
import { ATTR, withSwitchContext } from '../activities/tracing.js';
import { SOURCE_HEADER } from '../common/switch/ids.js';
import { ConfigError } from './config.js';

export interface TracingSettings {
  /** Where spans go (the full traces URL). */
  url: string;
  serviceName: string;
}

/** The exporter's settings from the standard variables, or undefined: no collector named, tracing is off. */
export function tracingSettings(env: NodeJS.ProcessEnv, defaultService: string): TracingSettings | undefined {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return undefined;
  const exporters = env.OTEL_TRACES_EXPORTER?.trim().toLowerCase();
  if (exporters === 'none') return undefined;
  if (exporters && exporters !== 'otlp')
    throw new ConfigError(
      `OTEL_TRACES_EXPORTER=${exporters}: this worker exports traces over OTLP only (otlp or none)`,
    );
  const specific = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim();
  const general = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  if (!specific && !general) return undefined;
  const protocol = (env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? env.OTEL_EXPORTER_OTLP_PROTOCOL)?.trim();
  if (protocol && protocol !== 'http/protobuf')
    throw new ConfigError(
      `OTEL_EXPORTER_OTLP_PROTOCOL=${protocol}: traces are exported over http/protobuf only ` +
        "(a collector's OTLP/HTTP port, 4318 by default); unset it or set it to http/protobuf",
    );
  const url = specific || `${general!.replace(/\/+$/, '')}/v1/traces`;
  try {
    new URL(url);
  } catch {
    throw new ConfigError(`the OTLP traces endpoint ${url} is not a URL; give e.g. http://collector:4318`);
  }
  return { url, serviceName: env.OTEL_SERVICE_NAME?.trim() || defaultService };
}

export interface Tracing {
  settings: TracingSettings;
  resource: Resource;
  processor: SpanProcessor;
  /** Sends what is still buffered and stops exporting. */
  shutdown(): Promise<void>;
}

let current: Tracing | undefined;

/**
 * Starts exporting this process's spans if the environment names a collector (tracingSettings), once per
 * process; undefined when tracing is off (nothing is registered then, and every span is a no-op).
 */
export function startTracing(env: NodeJS.ProcessEnv, defaultService: string): Tracing | undefined {
  if (current) return current;
  const settings = tracingSettings(env, defaultService);
  if (!settings) return undefined;
  const resource = new Resource({ 'service.name': settings.serviceName });
  const processor = new BatchSpanProcessor(new OTLPTraceExporter({ url: settings.url }), {
    scheduledDelayMillis: 1_000,
  });
  const provider = new BasicTracerProvider({ resource, spanProcessors: [processor] });
  trace.setGlobalTracerProvider(provider);
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  const started: Tracing = {
    settings,
    resource,
    processor,
    async shutdown() {
      if (current !== started) return;
      current = undefined;
      await provider.shutdown();
      trace.disable();
      context.disable();
      propagation.disable();
    },
  };
  current = started;
  return started;
}

/** Sends the spans still buffered and stops exporting (at the end of the process); nothing when tracing is off. */
export async function stopTracing(): Promise<void> {
  await current?.shutdown();
}

/**
 * The worker's part of tracing: activity interceptors (the activity's span, then the DM source, cluster and
 * instance it works on as attributes and as context for the dmctl and MySQL spans inside it), and the sink the
 * workflow sandbox's spans leave through. Without tracing the sink drops them.
 */
export function workerTracing(tracing: Tracing | undefined): {
  activityInterceptors: ActivityInterceptorsFactory[];
  sinks: InjectedSinks<OpenTelemetrySinks>;
} {
  if (!tracing) return { activityInterceptors: [], sinks: { exporter: { export: { fn: () => undefined } } } };
  return {
    activityInterceptors: [
      (ctx) => ({
        inbound: new OpenTelemetryActivityInboundInterceptor(ctx),
        outbound: new OpenTelemetryActivityOutboundInterceptor(ctx),
      }),
      (ctx) => ({ inbound: switchAttributesInterceptor(ctx) }),
    ],
    sinks: { exporter: workflowExporter(tracing) },
  };
}

/**
 * The sink for the workflow's spans. Temporal's copies the whole workflow info onto each span; this one gives it
 * the run's identity only: the info also holds the memo, the search attributes and the last failure, decoded
 * (they may be encrypted in Temporal by the codec), which a collector does not need.
 */
function workflowExporter(tracing: Tracing): InjectedSinks<OpenTelemetrySinks>['exporter'] {
  const inner = makeWorkflowExporter(tracing.processor, tracing.resource).export;
  return {
    export: {
      fn: (info, spans) => {
        const { namespace, taskQueue, workflowId, runId, workflowType, attempt } = info;
        return inner.fn({ namespace, taskQueue, workflowId, runId, workflowType, attempt } as typeof info, spans);
      },
    },
  };
}

/** What an activity's input says about the switch: its source and cluster, and the instance it reads. */
function aboutActivity(ctx: ActivityContext, input: ActivityExecuteInput) {
  const arg = input.args[0] as
    { sourceId?: unknown; dmCluster?: unknown; host?: unknown; port?: unknown; instance?: unknown } | undefined;
  const header = input.headers[SOURCE_HEADER];
  const source = header ? defaultPayloadConverter.fromPayload<string>(header) : arg?.sourceId;
  const inst = (typeof arg?.instance === 'object' && arg.instance ? arg.instance : arg) as
    { host?: unknown; port?: unknown } | undefined;
  const attributes: Attributes = {
    ...(typeof source === 'string' ? { [ATTR.source]: source } : {}),
    ...(typeof arg?.dmCluster === 'string' ? { [ATTR.cluster]: arg.dmCluster } : {}),
    ...(typeof inst?.host === 'string'
      ? { [ATTR.instance]: typeof inst.port === 'number' ? `${inst.host}:${inst.port}` : inst.host }
      : {}),
    'temporal.activity_type': ctx.info.activityType,
    'temporal.attempt': ctx.info.attempt,
  };
  return {
    attributes,
    source: typeof source === 'string' ? source : undefined,
    cluster: typeof arg?.dmCluster === 'string' ? arg.dmCluster : undefined,
  };
}

function switchAttributesInterceptor(ctx: ActivityContext): ActivityInboundCallsInterceptor {
  return {
    async execute(input, next) {
      const about = aboutActivity(ctx, input);
      const span = trace.getActiveSpan();
      span?.setAttributes(about.attributes);
      try {
        const result = await withSwitchContext(about, () => next(input));
        span?.setAttribute(ATTR.outcome, 'ok');
        return result;
      } catch (e) {
        span?.setAttribute(ATTR.outcome, 'error');
        throw e;
      }
    },
  };
}

/** The client's part: the start of a switch (and each signal, query, update) as a span whose trace it carries on. */
export function clientTracingInterceptors(tracing: Tracing | undefined) {
  return tracing ? [new OpenTelemetryWorkflowClientInterceptor()] : [];
}
