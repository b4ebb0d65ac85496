/**
 * Starting switches from any client (our CLI, the alert webhook, scripts):
 * validated before anything is sent, one switch per source at a time.
 *
 * The workflow ID is the business key dm-switch/<dmCluster>/<sourceId>, and
 * the start uses the conflict policy FAIL: while a switch of a source runs, a
 * second one is refused with a message that says which run holds the source
 * and how to watch or cancel it. A finished switch does not block a new one.
 */
import { WorkflowExecutionAlreadyStartedError, type Client, type WorkflowHandle } from '@temporalio/client';
import { DEFAULT_TASK_QUEUE, switchWorkflowId } from '../common/switch/ids.js';
import { SA } from '../common/switch/search-attributes.js';
import {
  validateAddressSwitchInput,
  validateVipSwitchInput,
  type AddressSwitchParsed,
  type Validation,
  type VipSwitchParsed,
} from '../common/switch/input.js';

export type SwitchKind = 'vip' | 'address';
const WORKFLOW: Record<SwitchKind, 'vipSwitch' | 'addressSwitch'> = { vip: 'vipSwitch', address: 'addressSwitch' };
const VALIDATE: Record<SwitchKind, (raw: unknown) => Validation<VipSwitchParsed | AddressSwitchParsed>> = {
  vip: validateVipSwitchInput,
  address: validateAddressSwitchInput,
};

export class SwitchRequestError extends Error {
  override readonly name = 'SwitchRequestError';
  constructor(
    message: string,
    readonly code: 'invalid-input' | 'already-running',
  ) {
    super(message);
  }
}

export interface StartedSwitch {
  workflowId: string;
  runId: string;
  input: VipSwitchParsed | AddressSwitchParsed;
  handle: WorkflowHandle;
}

export interface StartOptions {
  taskQueue?: string;
  /** Memo kept with the workflow (e.g. the alert that started it). */
  memo?: Record<string, unknown>;
}

export function startVipSwitch(client: Client, request: unknown, options: StartOptions = {}): Promise<StartedSwitch> {
  return startSwitch(client, 'vip', request, options);
}

/** The request validated for `kind`, defaults filled in; throws SwitchRequestError naming every problem. */
export function validateRequest(kind: SwitchKind, request: unknown): VipSwitchParsed | AddressSwitchParsed {
  const v = VALIDATE[kind](request);
  if (!v.ok)
    throw new SwitchRequestError(
      `invalid switch request, nothing was started:\n${v.problems.map((p) => `  - ${p}`).join('\n')}`,
      'invalid-input',
    );
  return v.value;
}

/** The target as a person reads it: the instance, or how the switch will choose one. */
export function targetWords(input: VipSwitchParsed | AddressSwitchParsed): string {
  if (input.newInstance) return `${input.newInstance.host}:${input.newInstance.port}`;
  if (input.candidates) return `the best of ${input.candidates.map((c) => `${c.host}:${c.port}`).join(', ')}`;
  const of = input.discover?.replicasOf ?? input.oldInstance;
  return (
    `the best replica found ` +
    `${input.discover?.replicasOf ? `of ${of?.host}:${of?.port}` : `beside ${of?.host}:${of?.port}`}`
  );
}

/**
 * Validates `request` for `kind` and starts it under the source's workflow ID; refuses a second switch of a busy
 * source.
 */
export async function startSwitch(
  client: Client,
  kind: SwitchKind,
  request: unknown,
  options: StartOptions = {},
): Promise<StartedSwitch> {
  const input = validateRequest(kind, request);
  const workflowId = switchWorkflowId(input.dmCluster, input.sourceId);
  const summary =
    `${input.options.dryRun ? 'Dry run: ' : ''}${kind === 'vip' ? 'VIP' : 'Address'} ` +
    `switch of DM source ${input.sourceId} to ${targetWords(input)}`;
  try {
    const handle = await client.workflow.start(WORKFLOW[kind], {
      taskQueue: options.taskQueue ?? DEFAULT_TASK_QUEUE,
      workflowId,
      args: [input],
      ...(options.memo ? { memo: options.memo } : {}),
      workflowIdConflictPolicy: 'FAIL',
      workflowIdReusePolicy: 'ALLOW_DUPLICATE',
      staticSummary: summary,
      // findable (dm-switch list, the UI's list) before a worker runs it; the workflow keeps them up to date from then
      // on
      typedSearchAttributes: [
        { key: SA.source, value: input.sourceId },
        { key: SA.cluster, value: input.dmCluster },
        { key: SA.kind, value: kind === 'vip' ? 'vip-switch' : 'address-switch' },
      ],
      staticDetails: [
        `requested by: ${input.requestedBy ?? 'unknown'}`,
        `reason: ${input.reason ?? '(none given)'}`,
      ].join('\n'),
    });
    return { workflowId, runId: handle.firstExecutionRunId, input, handle };
  } catch (e) {
    if (e instanceof WorkflowExecutionAlreadyStartedError) {
      const running = await client.workflow
        .getHandle(workflowId)
        .describe()
        .catch(() => undefined);
      throw new SwitchRequestError(
        `a switch of DM source ${input.sourceId} (cluster ${input.dmCluster}) is already running` +
          (`${running ? ` (run ${running.runId}, started ${running.startTime.toISOString()})` : ''}: ` +
            `only one switch per source at a time. `) +
          `Watch it with \`dm-switch watch ${workflowId}\`, or cancel it first (\`dm-switch cancel ${workflowId}\`).`,
        'already-running',
      );
    }
    throw e;
  }
}
