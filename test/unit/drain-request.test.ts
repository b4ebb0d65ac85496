/**
 * The drain's and the return's requests as clients build them
 * (client/drain.ts): validation before anything is sent, and the return
 * built from a drain's own record.
 */
import { describe, expect, it } from 'vitest';
import { renderHostStatus, returnRequestFrom, validateHostRequest } from '../../client/drain.js';
import { DrainInputSchema, type HostSource, type HostStatus } from '../../common/switch/drain.js';

const source = (over: Partial<HostSource>): HostSource => ({
  dmCluster: 'default',
  sourceId: 's',
  procedure: 'address',
  reads: 'db-a:3306',
  workflowId: 'dm-switch/default/s',
  plan: 'switch',
  reasons: [],
  ...over,
});

function drained(sources: HostSource[]): HostStatus {
  return {
    kind: 'drain',
    host: 'db-a',
    port: 3306,
    phase: 'done',
    outcome: 'not-drained',
    startedAt: '2026-12-06T00:00:00.000Z',
    updatedAt: '2026-12-06T00:01:00.000Z',
    input: DrainInputSchema.parse({
      host: 'db-a',
      credentials: 'upstream',
      taskCredentials: 'downstream',
      vips: [{ address: '10.0.0.1' }, { address: '10.0.0.14' }],
      candidates: [{ host: 'db-b', credentials: 'replica-b' }],
    }),
    sources,
    left: ['default/stuck'],
    dryRun: false,
    plan: [],
    decisions: [],
    warnings: [],
    approvals: [],
  };
}

describe('drain and return requests', () => {
  it('refuses a request that names no host, a host with spaces, or both candidates and discover, naming each problem', () => {
    expect(() => validateHostRequest('drain', { credentials: 'c' })).toThrow(/host: required/);
    expect(() => validateHostRequest('drain', { host: 'db a', credentials: 'c' })).toThrow(
      /host: a host name or address/,
    );
    expect(() =>
      validateHostRequest('drain', {
        host: 'db-a',
        credentials: 'c',
        candidates: [{ host: 'b', credentials: 'c' }],
        discover: {},
      }),
    ).toThrow(/give candidates or discover, not both/);
    expect(() => validateHostRequest('return', { host: 'db-a', credentials: 'c', sources: [] })).toThrow(
      /name at least one source to move back/,
    );
    expect(() => validateHostRequest('drain', { host: 'db-a', credentials: 'c', password: 'x' })).toThrow(
      /passwords never go into/,
    );
  });

  it('builds the return from what the drain switched, each source back by its own procedure and VIP, with the credentials it was judged with', () => {
    const r = returnRequestFrom(
      drained([
        source({
          sourceId: 'by-vip',
          procedure: 'vip',
          reads: 'VIP 10.0.0.14 (held by db-a)',
          vip: { address: '10.0.0.14', provider: 'default' },
          target: 'db-b:3306',
          outcome: 'switched',
        }),
        source({ sourceId: 'direct', target: 'db-c:3306', outcome: 'switched' }),
        source({ sourceId: 'stuck', plan: 'refused', outcome: 'refused' }),
        source({ sourceId: 'undone', target: 'db-b:3306', outcome: 'rolled-back' }),
      ]),
    );
    expect(r.sources).toEqual([
      {
        dmCluster: 'default',
        sourceId: 'by-vip',
        procedure: 'vip',
        from: { host: 'db-b', port: 3306, credentials: 'replica-b' },
        vip: { address: '10.0.0.14', provider: 'default' },
      },
      {
        dmCluster: 'default',
        sourceId: 'direct',
        procedure: 'address',
        from: { host: 'db-c', port: 3306, credentials: 'upstream' },
      },
    ]);
    expect(r).toMatchObject({ host: 'db-a', port: 3306, credentials: 'upstream', taskCredentials: 'downstream' });
    expect(validateHostRequest('return', r)).toBeTruthy();
  });

  it('refuses a return when the drain moved nothing, saying what happened to each source', () => {
    expect(() =>
      returnRequestFrom(drained([source({ sourceId: 'stuck', plan: 'refused', outcome: 'refused' })])),
    ).toThrow(/moved no source \(stuck: refused\): nothing to move back/);
  });

  it('renders the plan and what still reads the host for a person', () => {
    const text = renderHostStatus(
      'dm-switch-drain/db-a:3306',
      drained([
        source({ sourceId: 'stuck', plan: 'refused', outcome: 'refused', reasons: ['its switch refuses: no GTIDs'] }),
      ]),
    );
    expect(text).toContain('default/stuck  address  reads db-a:3306  plan: refused  → refused');
    expect(text).toContain('its switch refuses: no GTIDs');
    expect(text).toContain('still reading the host: default/stuck');
  });
});
