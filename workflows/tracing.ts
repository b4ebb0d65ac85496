/**
 * The workflow side of a switch's trace (worker/tracing.ts): the Temporal OpenTelemetry interceptors (a span
 * for the workflow run, one for each activity it schedules, whose context the activity carries on), and the
 * switch's DM source, cluster and outcome on the workflow's span. Bundled with the workflows always: spans are
 * made in the sandbox from its deterministic randomness and leave through a sink the worker drops when it
 * exports nothing. They add no command: a switch's history is the same with and without them.
 */
import { trace } from '@opentelemetry/api';
import {
  OpenTelemetryInboundInterceptor,
  OpenTelemetryInternalsInterceptor,
  OpenTelemetryOutboundInterceptor,
} from '@temporalio/interceptors-opentelemetry/lib/workflow/index.js';
import type { WorkflowInboundCallsInterceptor, WorkflowInterceptorsFactory } from '@temporalio/workflow';

/** The attribute names of activities/tracing.ts (not imported: that module is for the worker's side). */
const SOURCE = 'dm_switch.source';
const CLUSTER = 'dm_switch.dm_cluster';
const SWITCH_OUTCOME = 'dm_switch.switch_outcome';

/** The source and cluster from the request, the outcome from the status the switch returns. */
const switchAttributes: WorkflowInboundCallsInterceptor = {
  async execute(input, next) {
    const span = trace.getActiveSpan();
    const req = input.args[0] as { sourceId?: unknown; dmCluster?: unknown } | undefined;
    if (typeof req?.sourceId === 'string') span?.setAttribute(SOURCE, req.sourceId);
    if (typeof req?.dmCluster === 'string') span?.setAttribute(CLUSTER, req.dmCluster);
    const result = await next(input);
    const outcome = (result as { outcome?: unknown } | undefined)?.outcome;
    if (typeof outcome === 'string') span?.setAttribute(SWITCH_OUTCOME, outcome);
    return result;
  },
};

/**
 * The run's span and its signals, but no span around an update or a query: the SDK's update handler wraps the
 * update in extra awaits, which moved the update's completion relative to the gate's timer cancellation between the
 * task that ran it and a replay of it ("Update machine does not handle this event: TimerCanceled", seen in
 * test/workflow/approvals.test.ts with the interceptors bundled). An approval is recorded in the switch's status
 * and history; it needs no span of its own.
 */
class InboundInterceptor extends OpenTelemetryInboundInterceptor {
  override handleUpdate(...[input, next]: Parameters<OpenTelemetryInboundInterceptor['handleUpdate']>) {
    return next(input);
  }
  override validateUpdate(...[input, next]: Parameters<OpenTelemetryInboundInterceptor['validateUpdate']>) {
    next(input);
  }
  override handleQuery(...[input, next]: Parameters<OpenTelemetryInboundInterceptor['handleQuery']>) {
    return next(input);
  }
}

export const interceptors: WorkflowInterceptorsFactory = () => ({
  inbound: [new InboundInterceptor(), switchAttributes],
  outbound: [new OpenTelemetryOutboundInterceptor()],
  internals: [new OpenTelemetryInternalsInterceptor()],
});
