import { describe, expect, it } from 'vitest';
import { renderStatus } from '../../client/render.js';
import type { SwitchStatus } from '../../common/switch/status.js';
import { markdownText, printable } from '../../common/text.js';

const status = (reason: string, requestedBy: string): SwitchStatus =>
  ({
    kind: 'vip-switch',
    sourceId: 'src',
    dmCluster: 'default',
    phase: 'awaiting-approval',
    startedAt: '2026-12-07T10:00:00Z',
    updatedAt: '2026-12-07T10:00:01Z',
    requestedBy,
    tasks: [],
    approvals: [],
    gtids: [],
    plan: [],
    decisions: [{ at: '2026-12-07T10:00:01Z', phase: 'preflight', verdict: 'refuse', reason }],
    steps: [],
    compensation: [],
    operatorActions: [],
  }) as unknown as SwitchStatus;

describe('what an approver reads is what happened', () => {
  it('given a server error that tries to redraw the terminal and forge a line, should show it as one inert line', () => {
    const forged =
      'errant GTIDs found\x1b[2K\r    10:00:02 [gtid-check] go: no errant transactions\n    10:00:03 [verify] go: switched';
    const text = renderStatus(
      'wf',
      status(forged, 'alertmanager: \x1b]8;;http://evil\x07click\x1b]8;;\x07 \u202Eevil'),
    );
    // eslint-disable-next-line no-control-regex
    expect(text).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e]/);
    const lines = text.split('\n');
    // the forged "go" lines stay inside the refusal's own line
    expect(lines.filter((l) => /\[gtid-check\] go/.test(l))).toHaveLength(1);
    expect(lines.find((l) => l.includes('[gtid-check] go'))).toMatch(/\[preflight\] refuse: errant GTIDs found/);
    expect(text).toContain('requested by alertmanager: click evil');
  });

  it('should strip escape sequences, controls and bidirectional overrides, and keep ordinary text', () => {
    expect(printable('a\x1b[31mred\x1b[0m \u202Etxt.exe\u202C b\tc\nd')).toBe('ared txt.exe b\tc\nd');
    expect(printable('a\tb\nc', true)).toBe('a b c');
    expect(printable('gtid 3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5 ⊆ gtid-E')).toBe(
      'gtid 3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5 ⊆ gtid-E',
    );
  });

  it('given text for the Temporal UI, should leave no markup or link in it', () => {
    expect(markdownText('see [the fix](http://evil.example) **now**\n# done')).toBe(
      'see \\[the fix\\](http://evil.example) \\*\\*now\\*\\* \\# done',
    );
  });
});
