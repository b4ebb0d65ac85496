import { describe, expect, it } from 'vitest';
import { decideGtids, decideRelayPosition } from '../../common/switch/decide.js';
import { validateVipSwitchInput } from '../../common/switch/input.js';

const U = '3e11fa47-71ca-11e1-9e33-c80aa9429562';

describe('the runbook GTID rule (gtid-P ⊆ gtid-S ⊆ gtid-E)', () => {
  it.each([
    ['nothing purged, new instance ahead', '', `${U}:1-100`, `${U}:1-150`, false, 'go', /gtid-P ⊆ gtid-S ⊆ gtid-E/],
    [
      'purged range inside what DM replicated',
      `${U}:1-50`,
      `${U}:1-100`,
      `${U}:1-150`,
      false,
      'go',
      /gtid-P ⊆ gtid-S ⊆ gtid-E/,
    ],
    ['purged exactly up to DM position', `${U}:1-100`, `${U}:1-100`, `${U}:1-100`, false, 'go', /gtid-P ⊆ gtid-S/],
    [
      'purged beyond DM position',
      `${U}:1-120`,
      `${U}:1-100`,
      `${U}:1-150`,
      false,
      'refuse',
      new RegExp(`purged binlog that DM has not replicated yet \\(${U}:101-120\\)`),
    ],
    [
      'new instance behind, replicating',
      '',
      `${U}:1-100`,
      `${U}:1-90`,
      true,
      'wait',
      new RegExp(`lacks ${U}:91-100.*wait for it`),
    ],
    [
      'new instance behind, not replicating',
      '',
      `${U}:1-100`,
      `${U}:1-90`,
      false,
      'refuse',
      /not replicating, so it cannot catch up/,
    ],
    [
      'diverged history (other server)',
      '',
      `${U}:1-100`,
      `aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee:1-500`,
      false,
      'refuse',
      new RegExp(`lacks ${U}:1-100`),
    ],
    ['DM position empty', '', '', `${U}:1-5`, false, 'refuse', /syncerBinlogGtid is empty/],
    [
      'malformed DM position',
      '',
      `${U}:0`,
      `${U}:1-5`,
      false,
      'refuse',
      /could not be read.*Interval start out of range/,
    ],
  ] as const)('given %s, should %s', (_, P, S, E, replicating, verdict, reason) => {
    const d = decideGtids({ flavor: 'mysql', gtidP: P, gtidS: S, gtidE: E, newInstanceReplicating: replicating });
    expect(d.verdict).toBe(verdict);
    expect(d.reason).toMatch(reason);
  });

  it('given MariaDB (no gtid_purged), should decide on gtid-S ⊆ gtid-E and say why P is not checked', () => {
    expect(
      decideGtids({
        flavor: 'mariadb',
        gtidP: null,
        gtidS: '0-1-100',
        gtidE: '0-2-120',
        newInstanceReplicating: false,
      }),
    ).toMatchObject({ verdict: 'go', reason: /MariaDB keeps no gtid_purged/ });
    expect(
      decideGtids({ flavor: 'mariadb', gtidP: null, gtidS: '0-1-100', gtidE: '0-2-90', newInstanceReplicating: true })
        .verdict,
    ).toBe('wait');
  });
});

describe('VIP switch input', () => {
  const good = {
    sourceId: 'mysql-replica-01',
    newInstance: { host: '198.51.100.12', credentials: 'upstream' },
    vip: { address: '198.51.100.100' },
  };

  it('given the minimal JSON, should fill the defaults', () => {
    const v = validateVipSwitchInput(good);
    expect(v).toMatchObject({
      ok: true,
      value: {
        dmCluster: 'default',
        newInstance: { port: 3306 },
        vip: { provider: 'default' },
        options: { dryRun: false, catchUpTimeoutSeconds: 300, maxFreezeSeconds: 1800, acceptErrantTransactions: false },
      },
    });
  });

  it.each([
    [
      'a password in the input',
      { ...good, newInstance: { ...good.newInstance, password: 'x' } },
      /newInstance.password: passwords never go into a switch's input/,
    ],
    ['a missing source id', { ...good, sourceId: undefined }, /sourceId:/],
    ['a port out of range', { ...good, newInstance: { ...good.newInstance, port: 70000 } }, /newInstance.port:/],
    ['an unknown field', { ...good, vip: { ...good.vip, adress: 'x' } }, /vip: unknown field\(s\) "adress"/],
    ['not an object', 'switch it', /\(input\):/],
    [
      'a freeze bound too short to do anything',
      { ...good, options: { maxFreezeSeconds: 5 } },
      /options.maxFreezeSeconds:/,
    ],
    [
      'errant transactions accepted with a word',
      { ...good, options: { acceptErrantTransactions: 'yes' } },
      /options.acceptErrantTransactions:/,
    ],
  ])('given %s, should refuse naming the field', (_, raw, problem) => {
    const v = validateVipSwitchInput(raw);
    expect(v.ok).toBe(false);
    expect(v.ok ? '' : v.problems.join('\n')).toMatch(problem);
  });
});

describe('the relay position R', () => {
  it.each([
    [
      'ahead of gtid-S, held by the new instance',
      '',
      `${U}:1-120`,
      `${U}:1-150`,
      'go',
      /gtid-P ⊆ R ⊆ gtid-E: the new instance holds every transaction of the relay log/,
    ],
    [
      'ahead of what the new instance executed',
      '',
      `${U}:1-120`,
      `${U}:1-110`,
      'wait',
      new RegExp(`R ⊄ gtid-E: the new instance lacks ${U}:111-120, which the relay log already holds`),
    ],
    [
      'behind what the new instance purged',
      `${U}:1-130`,
      `${U}:1-120`,
      `${U}:1-150`,
      'refuse',
      /gtid-P ⊄ R: the new instance has purged binlog that the relay log does not hold yet/,
    ],
  ] as const)('given R %s, should %s', (_, P, R, E, verdict, reason) => {
    const d = decideRelayPosition({ flavor: 'mysql', gtidP: P, relayGtid: R, gtidE: E, newInstanceReplicating: true });
    expect(d.verdict).toBe(verdict);
    expect(d.reason).toMatch(reason);
  });
});
