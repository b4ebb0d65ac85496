/**
 * Templates in webhook rules: the renderer (grammar, filters, numbers, alert
 * values as data) and what the policy checks at load and per alert.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { matchRule, parsePolicy, PolicyError, ruleRequest } from '../../client/policy.js';
import {
  findTemplates,
  parseTemplate,
  renderValue,
  sampleValue,
  type AlertValues,
} from '../../client/policy-template.js';
import { switchWorkflowId } from '../../common/switch/ids.js';

const alert = (labels: Record<string, string>, annotations: Record<string, string> = {}): AlertValues => ({
  labels,
  annotations,
});
const rendered = (value: unknown, a: AlertValues) => {
  const r = renderValue(value, a);
  if (!r.ok) throw new Error(r.problems.map((p) => `${p.path}: ${p.message}`).join('\n'));
  return r.value;
};
const problems = (value: unknown, a: AlertValues) => {
  const r = renderValue(value, a);
  return r.ok ? [] : r.problems.map((p) => `${p.path}: ${p.message}`);
};

describe('parseTemplate', () => {
  it('given text without braces, should find no template', () => {
    expect(parseTemplate('mysql-replica-01')).toBeUndefined();
  });

  it('given templates with or without spaces, in or around text, should split them into text and references', () => {
    expect(parseTemplate('{{labels.dm_source}}')).toEqual({
      segments: [{ root: 'labels', name: 'dm_source', filters: [], text: '{{labels.dm_source}}' }],
      numeric: false,
    });
    expect(parseTemplate('db-{{ labels.n }}.{{\tannotations.zone | host }}')!.segments).toEqual([
      'db-',
      { root: 'labels', name: 'n', filters: [], text: '{{ labels.n }}' },
      '.',
      { root: 'annotations', name: 'zone', filters: ['host'], text: '{{\tannotations.zone | host }}' },
    ]);
  });

  it('given a value that is exactly one template ending in port or number, should mark it numeric, and nothing else', () => {
    expect(parseTemplate('{{ labels.instance | port }}')!.numeric).toBe(true);
    expect(parseTemplate('{{ labels.p | number }}')!.numeric).toBe(true);
    expect(parseTemplate('{{ labels.instance | host }}')!.numeric).toBe(false);
    expect(parseTemplate('{{ labels.p }}')!.numeric).toBe(false);
    expect(parseTemplate(' {{ labels.instance | port }}')!.numeric).toBe(false);
    expect(parseTemplate('{{ labels.instance | port }}0')!.numeric).toBe(false);
  });

  it('given anything outside the grammar, should say what is wrong', () => {
    expect(() => parseTemplate('{{ alert.x }}')).toThrow(
      /unknown variable root "alert"; write \{\{ labels\.NAME \}\} or \{\{ annotations\.NAME \}\}/,
    );
    expect(() => parseTemplate('{{ labels }}')).toThrow(/"" is not a label or annotation name/);
    expect(() => parseTemplate('{{ labels.a.b }}')).toThrow(/"a\.b" is not a label or annotation name/);
    expect(() => parseTemplate('{{ labels.instance | hots }}')).toThrow(
      /unknown filter "hots"; the filters are host, port, number/,
    );
    expect(() => parseTemplate('{{ labels.instance | }}')).toThrow(/unknown filter ""/);
    expect(() => parseTemplate('{{ labels.x')).toThrow(/"\{\{" without a closing "\}\}"/);
    expect(() => parseTemplate('labels.x }}')).toThrow(/"\}\}" without an opening "\{\{"/);
    expect(() => parseTemplate('{{ {{ labels.x }} }}')).toThrow(/templates do not nest/);
    // no code, no expressions: only a reference and filters
    expect(() => parseTemplate('{{ labels.x + 1 }}')).toThrow(/is not a label or annotation name/);
    expect(() => parseTemplate('{{ constructor.constructor }}')).toThrow(/unknown variable root "constructor"/);
    expect(() => parseTemplate('{{ labels.x | toString }}')).toThrow(/unknown filter "toString"/);
    expect(() => parseTemplate('{{ labels.x | constructor }}')).toThrow(/unknown filter "constructor"/);
  });
});

describe('renderValue', () => {
  it('given labels and annotations, should fill in every string at any depth, arrays included, and leave other values alone', () => {
    const value = {
      sourceId: '{{ labels.dm_source }}',
      dmCluster: 'cluster-{{ labels.dm_cluster }}',
      candidates: [
        { host: '{{ annotations.first }}', port: 3306 },
        { host: 'db-c', port: '{{ labels.instance | port }}' },
      ],
      options: { dryRun: true },
    };
    expect(
      rendered(
        value,
        alert({ dm_source: 'mysql-replica-07', dm_cluster: 'east', instance: 'db-a:3307' }, { first: 'db-b' }),
      ),
    ).toEqual({
      sourceId: 'mysql-replica-07',
      dmCluster: 'cluster-east',
      candidates: [
        { host: 'db-b', port: 3306 },
        { host: 'db-c', port: 3307 },
      ],
      options: { dryRun: true },
    });
  });

  it('given host:port, [IPv6]:port, a bare host and a bare IPv6 address, should split host and port', () => {
    const split = { host: '{{ labels.instance | host }}', port: '{{ labels.instance | port }}' };
    expect(rendered(split, alert({ instance: 'db-replica-01.example:3306' }))).toEqual({
      host: 'db-replica-01.example',
      port: 3306,
    });
    expect(rendered(split, alert({ instance: '[::1]:3306' }))).toEqual({ host: '::1', port: 3306 });
    expect(rendered(split, alert({ instance: '[2001:db8::7]:3307' }))).toEqual({ host: '2001:db8::7', port: 3307 });
    expect(rendered({ host: split.host }, alert({ instance: 'db-01' }))).toEqual({ host: 'db-01' });
    expect(rendered({ host: split.host }, alert({ instance: '2001:db8::7' }))).toEqual({ host: '2001:db8::7' });
    expect(rendered({ host: split.host }, alert({ instance: '[2001:db8::7]' }))).toEqual({ host: '2001:db8::7' });
  });

  it('given an instance the filters cannot take, should name the key, the template, the label and its value', () => {
    const port = { oldInstance: { port: '{{ labels.instance | port }}' } };
    expect(problems(port, alert({ instance: 'db-01' }))).toEqual([
      'oldInstance.port: {{ labels.instance | port }}: label instance is "db-01", which has no port (write host:port, or [IPv6 address]:port)',
    ]);
    expect(problems(port, alert({ instance: '2001:db8::7' }))).toEqual([
      expect.stringMatching(/label instance is "2001:db8::7", which has no port/),
    ]);
    expect(problems(port, alert({ instance: 'db-01:mysql' }))).toEqual([
      expect.stringMatching(/label instance is "db-01:mysql", which has a port "mysql" that is not a number/),
    ]);
    expect(problems(port, alert({ instance: '[::1' }))).toEqual([
      expect.stringMatching(/label instance is "\[::1", which is not \[IPv6 address\]:port/),
    ]);
    expect(problems({ host: '{{ labels.instance | host }}' }, alert({ instance: ':3306' }))).toEqual([
      expect.stringMatching(/label instance is ":3306", which has no host before the port/),
    ]);
  });

  it('given a value that is only a number template, should give a number; in text, or without a number filter, a string', () => {
    expect(
      rendered(
        { a: '{{ labels.p | number }}', b: 'port {{ labels.instance | port }}', c: '{{ labels.p }}' },
        alert({ p: '42', instance: 'h:7' }),
      ),
    ).toEqual({ a: 42, b: 'port 7', c: '42' });
    expect(problems({ a: '{{ labels.p | number }}' }, alert({ p: '4.2' }))).toEqual([
      'a: {{ labels.p | number }}: label p is "4.2", which is not a whole number',
    ]);
    expect(problems({ a: '{{ labels.p | number }}' }, alert({ p: '1e3' }))).toHaveLength(1);
  });

  it('given a missing or empty label or annotation, should name the key and what the alert lacks, for every such key', () => {
    expect(
      problems(
        { sourceId: '{{ labels.dm_source }}', vip: { address: '{{ annotations.vip }}' }, d: '{{ labels.e }}' },
        alert({ e: '' }),
      ),
    ).toEqual([
      'sourceId: {{ labels.dm_source }}: the alert has no label dm_source',
      'vip.address: {{ annotations.vip }}: the alert has no annotation vip',
      'd: {{ labels.e }}: the alert has no label e',
    ]);
  });

  it('given label values that look like templates, should put them in as text, never render them again', () => {
    const evil = alert(
      { dm_source: '{{ labels.secret }}', host: '}}{{ annotations.token | host }}', secret: 'hunter2' },
      { token: 'abc' },
    );
    expect(rendered({ sourceId: '{{ labels.dm_source }}', host: 'x-{{ labels.host }}' }, evil)).toEqual({
      sourceId: '{{ labels.secret }}',
      host: 'x-}}{{ annotations.token | host }}',
    });
  });

  it('given a label named like an object property, should find no such label', () => {
    expect(
      problems({ a: '{{ labels.constructor }}', b: '{{ labels.__proto__ }}', c: '{{ labels.toString }}' }, alert({})),
    ).toHaveLength(3);
  });
});

describe('sampleValue and findTemplates', () => {
  it('should replace templates by a sample that fits: a word, or 3306 where a number comes out', () => {
    expect(sampleValue({ s: 'db-{{ labels.x }}', p: '{{ labels.i | port }}', l: ['{{ labels.x }}'], n: 5 })).toEqual({
      s: 'db-sample',
      p: 3306,
      l: ['sample'],
      n: 5,
    });
  });

  it('should name templates in keys, in forbidden places, and unquoted ones YAML took for a mapping', () => {
    const { problems: found } = findTemplates(
      {
        taskConfigs: { '{{ labels.t }}': 'x' },
        approvals: { gates: ['{{ labels.g }}'] },
        sourceId: { '{ labels.dm_source }': null },
      },
      { approvals: 'not from alerts' },
    );
    expect(found.map((p) => `${p.path}: ${p.message}`).sort()).toEqual([
      'approvals.gates.0: no templates here: not from alerts',
      'sourceId: quote the template: write "{{ labels.dm_source }}" (unquoted, YAML reads {{ labels.dm_source }} as a mapping)',
      'taskConfigs.{{ labels.t }}: templates go in values, not in keys',
    ]);
  });
});

const POLICY = `
auth: { bearerTokenEnv: T }
rules:
  - name: replica-01-down
    match: { alertname: MySQLReplicaDown, dm_source: mysql-replica-01 }
    kind: vip
    unattended: true
    switch:
      sourceId: mysql-replica-01
      newInstance: { host: db-b, credentials: upstream }
      vip: { address: 198.51.100.14 }
  - name: instance-down-any-source
    match: { alertname: MySQLInstanceDown }
    require: [dm_source]
    kind: vip
    gates: [before-freeze, before-switch]
    switch:
      dmCluster: "{{ labels.dm_cluster }}"
      sourceId: "{{ labels.dm_source }}"
      newInstance: { host: "{{ labels.dm_switch_to | host }}", port: "{{ labels.dm_switch_to | port }}", credentials: upstream }
      oldInstance: { host: "{{ labels.instance | host }}", port: "{{ labels.instance | port }}", credentials: upstream }
      vip: { address: "{{ annotations.vip }}" }
`;
const labels = {
  alertname: 'MySQLInstanceDown',
  dm_cluster: 'east',
  dm_source: 'mysql-replica-07',
  dm_switch_to: '[2001:db8::8]:3307',
  instance: 'db-07.example:3306',
};
const note = { requestedBy: 'test', reason: 'test' };

describe('policy with templates: at load', () => {
  it('given a templated rule, should load it and keep its templates for the alerts', () => {
    const policy = parsePolicy(POLICY);
    expect(policy.rules[1]!.require).toEqual(['dm_source']);
    expect(policy.rules[1]!.switch.sourceId).toBe('{{ labels.dm_source }}');
    expect(policy.rules[0]!.require).toEqual([]);
  });

  it('given a rule that would freeze DM with nobody approving, should refuse the policy unless it says unattended', () => {
    expect(() => parsePolicy(POLICY.replace('    unattended: true\n', ''))).toThrow(
      /rules\.0\.gates: rule replica-01-down would freeze DM and switch with nobody approving: anyone who can reach Alertmanager's API .*Add before-freeze to gates, or say unattended: true/,
    );
    expect(() =>
      parsePolicy(POLICY.replace('gates: [before-freeze, before-switch]', 'gates: [before-switch]')),
    ).toThrow(/rules\.1\.gates: rule instance-down-any-source would freeze DM/);
  });

  it('given an unknown filter or variable root, should be a policy error naming the key and the rule', () => {
    expect(() => parsePolicy(POLICY.replace('instance | host', 'instance | hots'))).toThrow(PolicyError);
    expect(() => parsePolicy(POLICY.replace('instance | host', 'instance | hots'))).toThrow(
      /rules\.1\.switch\.oldInstance\.host: \{\{ labels\.instance \| hots \}\}: unknown filter "hots"; the filters are host, port, number \(rule instance-down-any-source\)/,
    );
    expect(() => parsePolicy(POLICY.replace('annotations.vip', 'alert.vip'))).toThrow(
      /rules\.1\.switch\.vip\.address: \{\{ alert\.vip \}\}: unknown variable root "alert".*\(rule instance-down-any-source\)/,
    );
  });

  it('given static mistakes in a templated rule, should still find them at load', () => {
    expect(() => parsePolicy(POLICY.replace('vip: { address: "{{', 'vip: { adress: "{{'))).toThrow(
      /rules\.1\.switch\.vip: unknown field\(s\) "adress"/,
    );
    expect(() =>
      parsePolicy(POLICY.replace('sourceId: "{{ labels.dm_source }}"', 'sourceId: "{{ labels.dm_source }} x"')),
    ).toThrow(
      /rules\.1\.switch\.sourceId: use letters.*\(this value is a template; at load it is checked with each template replaced by "sample"/,
    );
    expect(() =>
      parsePolicy(POLICY.replace('port: "{{ labels.instance | port }}"', 'port: "{{ labels.instance }}"')),
    ).toThrow(
      /rules\.1\.switch\.oldInstance\.port: .*(expected number|required \(number\)).*\(a template yields a number only when it is the whole value and its last filter is "port" or "number"/,
    );
    expect(() =>
      parsePolicy(POLICY.replace('host: "{{ labels.instance | host }}"', 'host: "{{ labels.instance | port }}"')),
    ).toThrow(/rules\.1\.switch\.oldInstance\.host: .*(expected string|required \(string\)).*this key takes text/);
    expect(() =>
      parsePolicy(POLICY.replace('sourceId: "{{ labels.dm_source }}"', 'sourceId: {{ labels.dm_source }}')),
    ).toThrow(/rules\.1\.switch\.sourceId: quote the template/);
    expect(() => parsePolicy(POLICY.replace('require: [dm_source]', 'require: [dm-source]'))).toThrow(
      /rules\.1\.require\.0: a label name/,
    );
    expect(() =>
      parsePolicy(
        POLICY.replace(
          'vip: { address: "{{ annotations.vip }}" }',
          'vip: { address: "{{ annotations.vip }}" }\n      approvals: { timeoutSeconds: "{{ labels.t | number }}" }',
        ),
      ),
    ).toThrow(
      /rules\.1\.switch\.approvals\.timeoutSeconds: no templates here: the gates and their timeout are the rule's decision/,
    );
  });
});

describe('policy with templates: per alert', () => {
  const policy = parsePolicy(POLICY);
  const rule = policy.rules[1]!;

  it('given an alert without a required label, should match no rule; with it, the templated rule', () => {
    const { dm_source: _, ...without } = labels;
    expect(matchRule(policy, without)).toBeUndefined();
    expect(matchRule(policy, { ...labels, dm_source: '' })).toBeUndefined();
    expect(matchRule(policy, labels)?.name).toBe('instance-down-any-source');
    expect(matchRule(policy, { alertname: 'MySQLReplicaDown', dm_source: 'mysql-replica-01' })?.name).toBe(
      'replica-01-down',
    );
    // a required label is the alert's own, not a property every object has
    expect(
      matchRule(parsePolicy(POLICY.replace('require: [dm_source]', 'require: [constructor]')), {
        alertname: 'MySQLInstanceDown',
      }),
    ).toBeUndefined();
  });

  it("given an alert with the labels, should make the request from them, with the rule's gates, and the workflow ID of the alert's source", () => {
    const r = ruleRequest(rule, alert(labels, { vip: 'db-vip-07' }), note);
    expect(r).toMatchObject({
      ok: true,
      request: {
        dmCluster: 'east',
        sourceId: 'mysql-replica-07',
        newInstance: { host: '2001:db8::8', port: 3307, credentials: 'upstream' },
        oldInstance: { host: 'db-07.example', port: 3306, credentials: 'upstream' },
        vip: { address: 'db-vip-07' },
        approvals: { gates: ['before-freeze', 'before-switch'] },
      },
    });
    if (!r.ok || !('sourceId' in r.input)) throw new Error('expected a switch request');
    expect(switchWorkflowId(r.input.dmCluster, r.input.sourceId)).toBe('dm-switch/east/mysql-replica-07');
  });

  it('given a label that makes an invalid request, should refuse with the rule, the key, the label and its value', () => {
    const r = ruleRequest(rule, alert({ ...labels, dm_source: 'bad source' }, { vip: 'v' }), note);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.reason).toMatch(
      /^rule instance-down-any-source makes no valid switch request from this alert, so nothing was started:\n/,
    );
    expect(r.reason).toContain(
      '  - switch.sourceId: use letters, digits, "_", "." or "-" (at most 128) (from {{ labels.dm_source }}: label dm_source is "bad source")',
    );
    const port = ruleRequest(rule, alert({ ...labels, instance: 'db-07:99999' }, { vip: 'v' }), note);
    expect(!port.ok && port.reason).toMatch(
      /switch\.oldInstance\.port: .*\(from \{\{ labels\.instance \| port \}\}: label instance is "db-07:99999"\)/,
    );
  });

  it('given an alert without a label a template names, should refuse and name it', () => {
    const { dm_cluster: _, ...noCluster } = labels;
    const r = ruleRequest(rule, alert(noCluster), note);
    expect(!r.ok && r.reason.split('\n').slice(1, 3)).toEqual([
      '  - switch.dmCluster: {{ labels.dm_cluster }}: the alert has no label dm_cluster',
      '  - switch.vip.address: {{ annotations.vip }}: the alert has no annotation vip',
    ]);
  });

  it('given a very long or odd label value, should quote it cut and escaped in the reason', () => {
    const r = ruleRequest(rule, alert({ ...labels, dm_source: `a\n${'b'.repeat(500)}` }, { vip: 'v' }), note);
    expect(!r.ok && r.reason).toMatch(/label dm_source is "a\\nb{197}…"\)/);
  });
});

describe('deploy/webhook.yaml', () => {
  const policy = parsePolicy(
    readFileSync(join(import.meta.dirname, '../../deploy/webhook.yaml'), 'utf8'),
    'deploy/webhook.yaml',
  );

  it('given an alert with the label conventions, should start its source through the templated rule, and the static rules still come first', () => {
    const am = {
      alertname: 'MySQLInstanceDown',
      instance: 'db-replica-05.example:3306',
      job: 'mysql',
      severity: 'critical',
      dm_source: 'mysql-replica-05',
      dm_primary: 'db-primary-05.example:3306',
      dm_vip: 'db-vip-05.example',
    };
    const rule = matchRule(policy, am)!;
    expect(rule.name).toBe('instance-down-any-source');
    const r = ruleRequest(rule, alert(am), note);
    expect(r).toMatchObject({
      ok: true,
      request: {
        sourceId: 'mysql-replica-05',
        discover: { replicasOf: { host: 'db-primary-05.example', port: 3306 } },
        oldInstance: { host: 'db-replica-05.example', port: 3306 },
        vip: { address: 'db-vip-05.example' },
      },
    });
    // the instance a static rule names keeps its rule (test/integration/alertmanager.test.ts relies on it), labels or not
    expect(matchRule(policy, { ...am, instance: 'db-replica-01.example:3306' })?.name).toBe('replica-01-instance-down');
    const { dm_vip: _, ...noVip } = am;
    expect(matchRule(policy, noVip)).toBeUndefined();
  });

  it('given a maintenance alert for a host, should make a drain request with one approval of its plan', () => {
    const am = { alertname: 'MySQLHostMaintenance', instance: 'db-replica-05.example:3306' };
    const rule = matchRule(policy, am)!;
    expect(rule).toMatchObject({ name: 'drain-for-maintenance', kind: 'drain' });
    const r = ruleRequest(rule, alert(am), note);
    expect(r).toMatchObject({
      ok: true,
      request: { host: 'db-replica-05.example', port: 3306, approve: true, vips: [{ address: 'db-vip.example' }] },
      input: { concurrency: 2 },
    });
    const bad = ruleRequest(rule, alert({ ...am, instance: 'db 05:3306' }), note);
    expect(bad).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/switch\.host: a host name or address .*label instance is "db 05:3306"/),
    });
  });
});
