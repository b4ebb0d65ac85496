import { describe, expect, it } from 'vitest';
import {
  describeTaggedGtids,
  findErrant,
  findErrantInChain,
  type ChainHop,
  type ErrantTarget,
} from '../../common/switch/errant.js';

const P = '11111111-1111-1111-1111-111111111111'; // the primary
const A = '22222222-2222-2222-2222-222222222222'; // the old instance
const B = '33333333-3333-3333-3333-333333333333'; // the new instance
const X = '44444444-4444-4444-4444-444444444444'; // a server nobody else knows

const replicaB = (gtids: string, over: Partial<ErrantTarget> = {}): ErrantTarget => ({
  label: 'the new instance b:3306',
  serverUuid: B,
  serverId: 3,
  gtids,
  readOnly: true,
  replicating: true,
  sources: [{ label: 'p:3306', serverUuid: P, serverId: 1, read: true }],
  ...over,
});

describe('errant transactions (MySQL)', () => {
  it('given a replica ahead of the old instance in the primary stream, should find nothing errant', () => {
    const r = findErrant('mysql', replicaB(`${P}:1-120`), [
      { label: "DM's position (gtid-S)", gtids: `${P}:1-100` },
      { label: 'the old instance', gtids: `${P}:1-105` },
      { label: 'its source', gtids: `${P}:1-125` },
    ]);
    expect(r).toEqual({ errant: '', findings: [], notes: [] });
  });

  it('given a local write on a read-only replica, should name it as errant, written on the instance itself', () => {
    const r = findErrant('mysql', replicaB(`${P}:1-120,${B}:1-2`), [
      { label: "DM's position (gtid-S)", gtids: `${P}:1-100` },
      { label: 'its source', gtids: `${P}:1-125` },
    ]);
    expect(r.errant).toBe(`${B}:1-2`);
    expect(r.findings[0]!.origin).toMatch(
      /written on the new instance b:3306 itself \(server_uuid 3333.*\) while it is read-only/,
    );
  });

  it('given a local write on a writable replica that replicates, should still call it errant', () => {
    const r = findErrant('mysql', replicaB(`${P}:1-120,${B}:7`, { readOnly: false }), [
      { label: 'its source', gtids: `${P}:1-125` },
    ]);
    expect(r.errant).toBe(`${B}:7`);
    expect(r.findings[0]!.origin).toMatch(/a replica that is replicating/);
  });

  it('given a promoted primary (writable, replicating from nobody) with its own writes, should not call them errant and say why', () => {
    const target = replicaB(`${P}:1-100,${B}:1-30`, { readOnly: false, replicating: false, sources: [] });
    const r = findErrant('mysql', target, [{ label: "DM's position (gtid-S)", gtids: `${P}:1-100` }]);
    expect(r.errant).toBe('');
    expect(r.notes.join()).toMatch(/acts as the primary \(e\.g\. promoted by a failover\)/);
  });

  it('given a promoted primary whose replication is only stopped (channel kept), should treat it as the primary', () => {
    const target = replicaB(`${P}:1-110,${B}:1-3`, {
      readOnly: false,
      replicating: false,
      sources: [{ label: 'p:3306', serverUuid: P, serverId: 1, read: false, error: 'ECONNREFUSED' }],
    });
    const r = findErrant('mysql', target, [{ label: "DM's position (gtid-S)", gtids: `${P}:1-100` }]);
    expect(r.errant).toBe('');
    // ahead in the dead primary's stream: information, not confirmed
    expect(
      r.notes.some(
        (n) =>
          n.includes(`${P}:101-110`) &&
          /not confirmed, as its replication source p:3306 \(ECONNREFUSED\) could not be read/.test(n),
      ),
    ).toBe(true);
  });

  it('given transactions of a server that its own source lacks, should call them errant when the source was read', () => {
    const r = findErrant('mysql', replicaB(`${P}:1-100,${X}:1-5`), [{ label: 'its source', gtids: `${P}:1-100` }]);
    expect(r.errant).toBe(`${X}:1-5`);
    expect(r.findings[0]!.origin).toMatch(/did not come through the new instance's replication source/);
  });

  it('given the source unreadable, should take known streams as ahead and unknown servers as errant', () => {
    const target = replicaB(`${P}:1-130,${X}:1-5`, {
      sources: [{ label: 'p:3306', serverUuid: P, serverId: 1, read: false, error: 'timeout' }],
    });
    const r = findErrant('mysql', target, [{ label: 'the old instance', gtids: `${P}:1-100` }]);
    expect(r.errant).toBe(`${X}:1-5`);
    expect(r.notes.join()).toMatch(new RegExp(`${P}:101-130: the new instance is ahead`));
  });

  it('given a GTID of the old instance that DM already has, should not count it', () => {
    const r = findErrant('mysql', replicaB(`${P}:1-100,${A}:1-4`), [
      { label: "DM's position (gtid-S)", gtids: `${P}:1-100,${A}:1-4` },
      { label: 'its source', gtids: `${P}:1-100` },
    ]);
    expect(r.errant).toBe('');
  });
});

describe('errant transactions (MariaDB, per domain and server id)', () => {
  const mariaB = (state: string, over: Partial<ErrantTarget> = {}): ErrantTarget => ({
    label: 'the new instance b:3306',
    serverUuid: 'server_id:3',
    serverId: 3,
    gtids: state,
    readOnly: true,
    replicating: true,
    sources: [{ label: 'its source', serverUuid: null, serverId: 1, read: true }],
    ...over,
  });

  it('given a replica ahead of the old instance in the primary stream, should find nothing errant', () => {
    const r = findErrant('mariadb', mariaB('0-1-120'), [
      { label: "DM's position (gtid-S)", gtids: '0-1-100' },
      { label: 'its source', gtids: '0-1-125' },
    ]);
    expect(r.errant).toBe('');
  });

  it("given a local write on the replica (its own server id), should call it errant even though the domain's sequence is not ahead", () => {
    // the local write took sequence 101 of domain 0; the primary has since logged 0-1-130
    const r = findErrant('mariadb', mariaB('0-1-130,0-3-101'), [
      { label: "DM's position (gtid-S)", gtids: '0-1-120' },
      { label: 'its source', gtids: '0-1-130' },
    ]);
    expect(r.errant).toBe('0-3-101');
    expect(r.findings[0]!.origin).toMatch(/server_id 3/);
  });

  it('given a server id none of the others logged, should call it errant', () => {
    const r = findErrant('mariadb', mariaB('0-1-100,1-9-4'), [{ label: 'its source', gtids: '0-1-100' }]);
    expect(r.errant).toBe('1-9-4');
  });

  it("given gtid_strict_mode and another server id's entry behind DM's position in its domain, should not call it errant", () => {
    // server 1 was the primary (dead, unreadable); server 2 took over the domain's order; DM read through it
    const after = (over: Partial<ErrantTarget>, state = '0-1-100,0-2-140') =>
      findErrant(
        'mariadb',
        mariaB(state, { sources: [{ label: 'its source', serverUuid: null, serverId: 2, read: false }], ...over }),
        [{ label: "DM's position", gtids: '0-2-140', dmPosition: true }],
      );
    expect(after({ strictMode: false }).errant).toBe('0-1-100');
    const strict = after({ strictMode: true });
    expect(strict.errant).toBe('');
    expect(strict.notes.join()).toMatch(
      /0-1-100: logged by server_id 1, at or below DM's position in domain 0; gtid_strict_mode is ON/,
    );
    // its own server id stays errant (a local write), and an entry beyond DM's position is not covered
    expect(after({ strictMode: true }, '0-1-100,0-3-120,0-2-140').errant).toBe('0-3-120');
    expect(after({ strictMode: true }, '0-1-150,0-2-140').errant).toBe('0-1-150');
  });
});

describe('tagged GTIDs', () => {
  it('given a tagged GTID in any reading, should name the tag and the reading', () => {
    const text = describeTaggedGtids('mysql', [
      { label: 'gtid-E of the new instance', gtids: `${P}:1-10:tag1:1-2` },
      { label: "DM's position", gtids: `${P}:1-10` },
    ]);
    expect(text).toMatch(/tag tag1/);
    expect(text).toMatch(new RegExp(`gtid-E of the new instance: ${P}:tag1:1-2`));
    expect(text).toMatch(/DM drops transactions written with a tagged GTID/);
  });
  it('given none, should say nothing', () => {
    expect(describeTaggedGtids('mysql', [{ label: 'x', gtids: `${P}:1-10` }])).toBeNull();
    expect(describeTaggedGtids('mariadb', [{ label: 'x', gtids: '0-1-5' }])).toBeNull();
  });
});

describe('"acts as primary" is proven', () => {
  it('given a writable replica whose replication was stopped by hand while its source answers and is writable, should call its own writes errant', () => {
    const target = replicaB(`${P}:1-100,${B}:1`, {
      readOnly: false,
      replicating: false,
      sources: [{ label: 'p:3306', serverUuid: P, serverId: 1, read: true, readOnly: false }],
    });
    const r = findErrant('mysql', target, [{ label: 'its source', gtids: `${P}:1-120` }]);
    expect(r.errant).toBe(`${B}:1`);
    expect(r.findings[0]!.origin).toMatch(
      /while it is a replica whose replication is stopped while its source p:3306 answers and is writable/,
    );
  });

  it('given its source read-only (demoted), should take it as the primary', () => {
    const target = replicaB(`${P}:1-100,${B}:1`, {
      readOnly: false,
      replicating: false,
      sources: [{ label: 'p:3306', serverUuid: P, serverId: 1, read: true, readOnly: true }],
    });
    expect(findErrant('mysql', target, [{ label: 'its source', gtids: `${P}:1-100` }]).errant).toBe('');
  });

  it('given a writable primary answering elsewhere (the old instance), should call its own writes errant even with no source configured', () => {
    const target = replicaB(`${P}:1-100,${B}:1-2`, {
      readOnly: false,
      replicating: false,
      sources: [],
      writablePrimaryElsewhere: 'the old instance a:3306',
    });
    const r = findErrant('mysql', target, [{ label: 'the old instance', gtids: `${P}:1-100` }]);
    expect(r.errant).toBe(`${B}:1-2`);
    expect(r.findings[0]!.origin).toMatch(/not the primary: the old instance a:3306 answers as a writable primary/);
  });
});

describe('errant transactions up the chain to the primary', () => {
  const I = '55555555-5555-5555-5555-555555555555'; // the server between B and the primary
  const hop = (over: Partial<ChainHop>): ChainHop => ({
    label: 'x',
    depth: 1,
    sources: [],
    hasChannels: false,
    reachable: true,
    readOnly: true,
    replicating: true,
    ...over,
  });
  const chain = (iGtids: string, pGtids = `${P}:1-130`): ChainHop[] => [
    hop({
      label: 'i:3306',
      depth: 1,
      sources: ['p:3306'],
      hasChannels: true,
      serverUuid: I,
      serverId: 5,
      gtids: iGtids,
    }),
    hop({
      label: 'p:3306',
      depth: 2,
      sources: [],
      hasChannels: false,
      readOnly: false,
      replicating: false,
      serverUuid: P,
      serverId: 1,
      gtids: pGtids,
    }),
  ];
  const viaI = (gtids: string) =>
    replicaB(gtids, { sources: [{ label: 'i:3306', serverUuid: I, serverId: 5, read: true, readOnly: true }] });
  const dmAt = [{ label: "DM's position (gtid-S)", gtids: `${P}:1-100` }];

  it('given a local write on the intermediate server that reached the new instance, should call it errant, written there', () => {
    const r = findErrantInChain('mysql', viaI(`${P}:1-120,${I}:1`), dmAt, chain(`${P}:1-125,${I}:1`));
    expect(r.errant).toBe(`${I}:1`);
    expect(r.findings[0]!.origin).toMatch(
      /written on i:3306 itself \(server_uuid 5555.*\), a replica between the new instance and the primary: p:3306 above it does not have them/,
    );
  });

  it("given the intermediate server's own old writes that the primary has (a former primary), should find nothing errant", () => {
    expect(
      findErrantInChain(
        'mysql',
        viaI(`${P}:1-120,${I}:1-50`),
        dmAt,
        chain(`${P}:1-125,${I}:1-50`, `${P}:1-130,${I}:1-50`),
      ).errant,
    ).toBe('');
  });

  it('given the intermediate write already downstream (in gtid-S), should not count it', () => {
    expect(
      findErrantInChain(
        'mysql',
        viaI(`${P}:1-120,${I}:1`),
        [{ label: 'gtid-S', gtids: `${P}:1-100,${I}:1` }],
        chain(`${P}:1-125,${I}:1`),
      ).errant,
    ).toBe('');
  });

  it("given the primary above unreachable, should still call the intermediate server's own writes errant (it replicates, so it is no primary)", () => {
    const hops = [
      hop({
        label: 'i:3306',
        sources: ['p:3306'],
        hasChannels: true,
        serverUuid: I,
        serverId: 5,
        gtids: `${P}:1-125,${I}:1`,
      }),
      hop({ label: 'p:3306', depth: 2, reachable: false, error: 'ECONNREFUSED' }),
    ];
    const r = findErrantInChain('mysql', viaI(`${P}:1-120,${I}:1`), dmAt, hops);
    expect(r.errant).toBe(`${I}:1`);
    expect(r.findings[0]!.origin).toMatch(/no server above it could be read to have them/);
  });

  it('given the intermediate server promoted (writable, replicating nothing, its source gone), should take its writes as history', () => {
    const hops = [
      hop({
        label: 'i:3306',
        sources: ['p:3306'],
        hasChannels: true,
        readOnly: false,
        replicating: false,
        serverUuid: I,
        serverId: 5,
        gtids: `${P}:1-125,${I}:1-3`,
      }),
      hop({ label: 'p:3306', depth: 2, reachable: false, error: 'ECONNREFUSED' }),
    ];
    expect(findErrantInChain('mysql', viaI(`${P}:1-120,${I}:1-3`), dmAt, hops).errant).toBe('');
  });

  it('given MariaDB, should apply the same rule per domain and server id', () => {
    const hops = [
      hop({
        label: 'i:3306',
        sources: ['p:3306'],
        hasChannels: true,
        serverUuid: 'server_id:5',
        serverId: 5,
        gtids: '0-1-125,0-5-126',
      }),
      hop({
        label: 'p:3306',
        depth: 2,
        readOnly: false,
        replicating: false,
        serverUuid: 'server_id:1',
        serverId: 1,
        gtids: '0-1-130',
      }),
    ];
    const target: ErrantTarget = {
      label: 'the new instance b:3306',
      serverUuid: 'server_id:3',
      serverId: 3,
      gtids: '0-1-125,0-5-126',
      readOnly: true,
      replicating: true,
      sources: [{ label: 'i:3306', serverUuid: null, serverId: 5, read: true }],
    };
    const r = findErrantInChain('mariadb', target, [{ label: 'gtid-S', gtids: '0-1-100' }], hops);
    expect(r.errant).toBe('0-5-126');
    expect(r.findings[0]!.origin).toMatch(/written on i:3306 itself \(server_id 5\)/);
  });
});
