/**
 * A switch's status as a person reads it in a terminal: where it is, the
 * GTID sets it rests on, what it decided and why, what it did and undid,
 * and what an operator must do.
 */
import type { SwitchStatus } from '../common/switch/status.js';
import { adviceFor, nextStep } from '../common/switch/next-steps.js';
import { printable } from '../common/text.js';

const time = (iso: string) => iso.slice(11, 19);

export function renderStatus(workflowId: string, s: SwitchStatus): string {
  const out: string[] = [];
  out.push(
    `${workflowId}: ${s.kind} of source ${s.sourceId} (DM cluster ${s.dmCluster})${s.dryRun ? ', dry run' : ''}`,
  );
  out.push(
    `  ${s.outcome ? `finished: ${s.outcome}` : `phase: ${s.phase}`}   started ${s.startedAt}, updated ${s.updatedAt}`,
  );
  if (s.requestedBy || s.reason)
    out.push(`  requested by ${s.requestedBy ?? 'unknown'}${s.reason ? `: ${s.reason}` : ''}`);
  if (s.tasks.length) out.push(`  tasks: ${s.tasks.map((t) => `${t.name} ${t.stage}`).join(', ')}`);
  if (s.leftPaused?.length) {
    out.push(`  left paused (an operator had paused them; not resumed or started): ${s.leftPaused.join(', ')}`);
  }
  const pending = s.approvals.find((a) => a.state === 'pending');
  if (pending) {
    out.push('', `  APPROVAL NEEDED at gate ${pending.gate}: ${pending.approving.summary}`);
    out.push(`    dm-switch approve ${workflowId} --gate ${pending.gate}   (or reject)`);
  }
  if (s.candidates?.length) {
    out.push('', '  candidates (best first):');
    for (const c of s.candidates) {
      out.push(
        `    ${c.chosen ? 'CHOSEN     ' : c.qualifies ? 'qualifies  ' : 'passed over'} ` +
          `${c.address} (${c.origin}${c.lag !== undefined ? `, lag ${c.lag}` : ''})`,
      );
      for (const r of c.reasons) out.push(`        ${r}`);
    }
  }
  const latest = new Map<string, string>();
  for (const g of s.gtids) latest.set(g.label, g.set);
  if (latest.size) {
    out.push('', '  GTID sets:');
    for (const [label, set] of latest) out.push(`    ${label}: ${set || '(empty)'}`);
  }
  if (s.plan.length) out.push('', '  plan:', ...s.plan.map((p, i) => `    ${i + 1}. ${p}`));
  if (s.decisions.length) out.push('', '  decisions:', ...s.decisions.map(renderDecision));
  if (s.steps.length)
    out.push(
      '',
      '  steps:',
      ...s.steps.map((x) => `    ${time(x.at)} ${x.result.padEnd(7)} ${x.step}${x.detail ? ` (${x.detail})` : ''}`),
    );
  if (s.compensation.length)
    out.push(
      '',
      '  undone:',
      ...s.compensation.map(
        (x) => `    ${time(x.at)} ${x.result.padEnd(7)} ${x.step}${x.detail ? ` (${x.detail})` : ''}`,
      ),
    );
  if (s.approvals.length)
    out.push(
      '',
      '  approvals:',
      ...s.approvals.map((a) => {
        const identity = a.identity !== undefined ? `, Temporal identity ${a.identity || 'not given'}` : '';
        const via = a.via ? ` (${a.via}${identity})` : '';
        return `    ${a.gate}: ${a.state}${a.by ? ` by ${a.by}` : ''}${via}${a.comment ? `: ${a.comment}` : ''}`;
      }),
    );
  if (s.operatorActions.length) out.push('', '  OPERATOR ACTION NEEDED:', ...s.operatorActions.map((a) => `    ${a}`));
  const next = whatNext(s, workflowId);
  if (next) out.push('', `  NEXT: ${next}`);
  // alerts, servers and DM wrote parts of it: one line each, nothing a terminal would act on
  return out.map((l) => printable(l, true)).join('\n');
}

export function renderDecision(d: SwitchStatus['decisions'][number]): string {
  return `    ${time(d.at)} [${d.phase}] ${d.verdict}: ${printable(d.reason, true)}`;
}

/** What a person does after a switch that ended without switching and needs no operator. */
function whatNext(s: SwitchStatus, workflowId: string): string | null {
  // the step that fits why it stopped (common/switch/next-steps.ts); a failure type this client does not know (a
  // worker newer than the CLI) gets the general advice
  const step = nextStep(s.failureType);
  const context = {
    sourceId: s.sourceId,
    dmCluster: s.dmCluster,
    workflowId,
    ...(s.target ? { target: s.target } : {}),
  };
  if (s.outcome === 'refused') {
    const why = s.decisions.filter((d) => d.verdict === 'refuse').at(-1)?.reason;
    if (step) {
      const before = step.sourceAsBefore ? `; DM's source ${s.sourceId} is as it was` : '';
      return `nothing was changed${before}. ${why ? `Refused because ${why}. ` : ''}${adviceFor(step, context)}`;
    }
    return (
      `nothing was changed; DM still reads source ${s.sourceId} as before. ` +
      `${why ? `Refused because ${why}. ` : ''}Fix that (or choose another new ` +
      `instance), then start the switch again.`
    );
  }
  if (s.outcome === 'rolled-back') {
    const stopped = s.stopped;
    const undone = stopped?.checked
      ? `every change was undone, and the state checked: DM reads source ${s.sourceId} as before`
      : 'every change was undone (see undone)';
    const cause = stopped ? `Stopped (${stopped.how}): ${stopped.cause}. ` : 'The decisions above say why it stopped. ';
    if (step) return `${undone}. ${cause}${adviceFor(step, context)}`;
    return `${undone}. ${cause}Start the switch again once that is dealt with.`;
  }
  return null;
}

/** One switch (or drain) as `dm-switch list` shows it. */
export interface ListRow {
  workflowId: string;
  status: string;
  kind: string;
  phase: string;
  outcome: string;
  /** ISO time it started. */
  started: string;
  /** The maintenance mark a drain run holds on its host, in words. */
  maintenance?: string;
}

/** `dm-switch list` in text: a header row naming the columns, then one row per switch. */
export function renderList(rows: ListRow[]): string {
  if (!rows.length) return 'no switches';
  const line = (started: string, status: string, kind: string, state: string, id: string) =>
    `${started.padEnd(19)}  ${status.padEnd(10)} ${kind.padEnd(15)} ${state.padEnd(18)} ${id}`;
  return [
    line('STARTED (UTC)', 'STATUS', 'KIND', 'STATE', 'SWITCH'),
    ...rows.map(
      (r) =>
        line(r.started.slice(0, 19), r.status, r.kind, r.outcome || r.phase, r.workflowId) +
        (r.maintenance ? `\n    MAINTENANCE: ${r.maintenance}` : ''),
    ),
  ].join('\n');
}
