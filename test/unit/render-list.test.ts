import { describe, expect, it } from 'vitest';
import { renderList } from '../../client/render.js';

const row = {
  workflowId: 'dm-switch/default/mysql-replica-01',
  status: 'COMPLETED',
  kind: 'vip-switch',
  phase: 'done',
  outcome: 'switched',
  started: '2026-12-07T12:00:01.123Z',
};

describe('renderList: dm-switch list', () => {
  it('given switches, should start with a header row whose columns line up with the rows', () => {
    const lines = renderList([
      row,
      { ...row, workflowId: 'dm-switch-drain/db-a:3306', kind: 'drain', outcome: '' },
    ]).split('\n');
    expect(lines[0]).toMatch(/^STARTED \(UTC\)\s+STATUS\s+KIND\s+STATE\s+SWITCH$/);
    for (const column of ['STATUS', 'KIND', 'STATE', 'SWITCH'])
      expect(lines[1]!.slice(lines[0]!.indexOf(column))).toMatch(/^\S/);
    expect(lines[1]!.slice(lines[0]!.indexOf('SWITCH'))).toBe('dm-switch/default/mysql-replica-01');
    expect(lines[1]!.slice(lines[0]!.indexOf('STATE'))).toMatch(/^switched /);
    expect(lines[2]!.slice(lines[0]!.indexOf('STATE'))).toMatch(/^done /);
  });

  it('given a drain that marks its host, should put the mark under its row', () => {
    const lines = renderList([{ ...row, maintenance: 'db-a:3306 is under maintenance' }]).split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[2]).toBe('    MAINTENANCE: db-a:3306 is under maintenance');
  });

  it('given none, should say so without a header', () => {
    expect(renderList([])).toBe('no switches');
  });
});
