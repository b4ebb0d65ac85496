import { describe, expect, it } from 'vitest';
import { hostSyntaxProblem } from '../../common/switch/hosts.js';
import { validateVipSwitchInput } from '../../common/switch/input.js';

describe('host syntax', () => {
  it.each([
    '10.0.0.5',
    'db-a',
    'db-a.prod.example',
    'db_a.local',
    '::1',
    '[::1]',
    'fd00::12:5',
    '::ffff:10.0.0.1',
    '2001:db8:0:0:0:0:0:1',
    'a.',
  ])('accepts %s', (h) => {
    expect(hostSyntaxProblem(h)).toBeNull();
  });
  it.each([
    '-oProxyCommand=x',
    '--help',
    'db a',
    'db;rm',
    '$(id)',
    '10.0.0.5:3306',
    'a..b',
    '1:2:3:4:5:6:7:8:9',
    '::1::2',
    'http://x',
    '',
    'db-.x',
  ])('refuses %j', (h) => {
    expect(hostSyntaxProblem(h)).not.toBeNull();
  });

  it('given a request whose host or VIP looks like an option, should refuse it before anything runs', () => {
    const v = validateVipSwitchInput({
      sourceId: 'src',
      newInstance: { host: '-oProxyCommand=x', credentials: 'c' },
      vip: { address: '--all' },
    });
    expect(v.ok).toBe(false);
    const problems = v.ok ? '' : v.problems.join('\n');
    expect(problems).toMatch(/newInstance\.host: "-oProxyCommand=x" starts with "-"/);
    expect(problems).toMatch(/vip\.address: "--all" starts with "-"/);
  });
});
