import { describe, expect, it } from 'vitest';
import { renderStatus } from '../../client/render.js';
import type { SwitchStatus } from '../../common/switch/status.js';

const base: SwitchStatus = {
  kind: 'vip-switch',
  dmCluster: 'default',
  sourceId: 'mysql-replica-01',
  phase: 'preflight',
  dryRun: false,
  startedAt: '2026-12-02T10:00:00.000Z',
  updatedAt: '2026-12-02T10:00:05.000Z',
  tasks: [],
  gtids: [],
  decisions: [],
  plan: [],
  steps: [],
  compensation: [],
  warnings: [],
  operatorActions: [],
  approvals: [],
} as unknown as SwitchStatus;
const decision = (verdict: 'refuse' | 'info', reason: string) =>
  ({ at: '2026-12-02T10:00:04.000Z', phase: 'preflight', verdict, reason }) as SwitchStatus['decisions'][number];

describe('renderStatus: what to do next', () => {
  it('given a refusal, should say nothing changed, why, and to start again after fixing it', () => {
    const text = renderStatus('dm-switch/default/mysql-replica-01', {
      ...base,
      outcome: 'refused',
      decisions: [decision('refuse', 'the new instance lacks 3e11fa47-71ca-11e1-9e33-c80aa9429562:7-9')],
    });
    expect(text).toMatch(
      /NEXT: nothing was changed; DM still reads source mysql-replica-01 as before\. Refused because the new instance lacks 3e11fa47-71ca-11e1-9e33-c80aa9429562:7-9\. Fix that \(or choose another new instance\), then start the switch again\./,
    );
  });

  it('given a rollback that was checked, should say so; one that was not checked, should not claim it', () => {
    const checked = renderStatus('x', {
      ...base,
      outcome: 'rolled-back',
      // the typed record decides, not the decisions' wording
      decisions: [decision('refuse', 'an unrelated earlier refusal'), decision('info', 'undone')],
      stopped: { how: 'rejected', cause: 'rejected by ana at gate before-resume', checked: true },
    });
    expect(checked).toMatch(
      /NEXT: every change was undone, and the state checked: DM reads source mysql-replica-01 as before\. Stopped \(rejected\): rejected by ana at gate before-resume\. Start the switch again/,
    );
    const unchecked = renderStatus('x', {
      ...base,
      outcome: 'rolled-back',
      decisions: [decision('info', 'every change was undone, and checked: said, but not recorded as checked')],
      stopped: { how: 'failed', cause: 'the VIP did not answer', checked: false },
    });
    expect(unchecked).toMatch(
      /NEXT: every change was undone \(see undone\)\. Stopped \(failed\): the VIP did not answer\./,
    );
    expect(unchecked).not.toMatch(/state checked/);
  });

  it('given a switch that switched or needs an operator, should print no NEXT line (OPERATOR ACTION NEEDED covers the latter)', () => {
    expect(renderStatus('x', { ...base, outcome: 'switched' })).not.toMatch(/NEXT:/);
    expect(renderStatus('x', { ...base, outcome: 'needs-operator', operatorActions: ['dmctl resume-task'] })).toMatch(
      /OPERATOR ACTION NEEDED:\n {4}dmctl resume-task$/,
    );
  });
});
