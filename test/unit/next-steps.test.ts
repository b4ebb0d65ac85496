import { describe, expect, it } from 'vitest';
import { SwitchErrorType } from '../../common/switch/errors.js';
import { NEXT_STEPS, nextStep } from '../../common/switch/next-steps.js';

const context = {
  sourceId: 'mysql-replica-99',
  dmCluster: 'default',
  workflowId: 'dm-switch/default/mysql-replica-99',
};

describe('the next step after a switch that did not switch', () => {
  it('given every failure type and a cancellation, should give each its own advice, never the boilerplate', () => {
    const causes = [...Object.values(SwitchErrorType), 'cancelled'];
    const advice = causes.map((c) => nextStep(c)?.advice(context));
    expect(advice.every((a) => typeof a === 'string' && a.length > 20)).toBe(true);
    expect(new Set(advice).size).toBe(causes.length);
    for (const a of advice) expect(a).not.toMatch(/Fix that|still reads source/);
    expect(Object.keys(NEXT_STEPS).sort()).toEqual(causes.sort());
  });

  it('given a source DM does not know, should not say DM reads it, and say how to find the right id', () => {
    const step = nextStep('SourceNotFound')!;
    expect(step.sourceAsBefore).toBe(false);
    expect(step.advice(context)).toMatch(/^DM has no source mysql-replica-99 in cluster default: check the id/);
  });

  it('given a type it does not know (an older status), should give none', () => {
    expect(nextStep(undefined)).toBeNull();
    expect(nextStep('toString')).toBeNull();
  });
});
