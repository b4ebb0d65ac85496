/**
 * The banner `npm start` prints once up (scripts/start-banner.ts) is the sample
 * docs/operating.md shows, line for line, for the sample values below; the
 * real stack prints it and keeps it in banner.txt (test/integration/start-signals.test.ts).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startBanner, type BannerInfo } from '../../scripts/start-banner.js';

const root = join(import.meta.dirname, '../..');
const home = '/home/dba';
const sample: BannerInfo = {
  readySeconds: 16.5,
  state: `${home}/.local/state/dm-switch`,
  clone: `${home}/dm-switch`,
  temporal: {
    address: '127.0.0.1:7233',
    uiUrl: 'http://127.0.0.1:8233',
    cli: `${home}/.cache/dm-switch/temporal-cli-v1.5.1/bin/temporal`,
  },
  worker: { taskQueue: 'dm-switch', clusters: ['default'] },
  sandbox: {
    primary: '198.51.100.18:3306',
    replicas: ['198.51.100.19:3306', '198.51.100.20:3306'],
    vip: '198.51.100.30',
    vipOn: '198.51.100.19',
    lab: '198.51.100.16/28',
    namespaces: ['dsw1h1', 'dsw1h2', 'dsw1h3'],
    tidb: { host: '127.0.0.1', port: 29042 },
    dmctl: `${home}/.cache/dm-switch/dm-v0.0.0-20260202075306-0ea757eae77a/bin/dmctl`,
    dmMaster: '127.0.0.1:26100',
    sourceId: 'mysql-replica-01',
    task: 'app-to-downstream',
    workflowId: 'dm-switch/default/mysql-replica-01',
    demoJson:
      '{"sourceId":"mysql-replica-01",' +
      '"newInstance":{"host":"198.51.100.20","port":3306,"credentials":"sandbox-root"},' +
      '"oldInstance":{"host":"198.51.100.19","port":3306,"credentials":"sandbox-root"},' +
      '"vip":{"address":"198.51.100.30"},"requestedBy":"npm start demo","reason":"try a switch"}',
    webhookUrl: 'http://127.0.0.1:9095/alerts',
  },
};

/** The fenced block after the marker naming this test in docs/operating.md. */
function docsSample(): string[] {
  const text = readFileSync(join(root, 'docs/operating.md'), 'utf8');
  const at = text.indexOf('<!-- the banner: test/unit/start-banner.test.ts -->');
  expect(at, 'docs/operating.md has no banner sample marked for this test').toBeGreaterThan(0);
  const block = text.slice(at).match(/```\n([\s\S]*?)\n```/)?.[1];
  return (block ?? '').split('\n');
}

describe('the banner npm start prints', () => {
  it('should be the sample docs/operating.md shows, line for line', () => {
    expect(docsSample()).toEqual(startBanner(sample).map((l) => `[dm-switch] ${l}`));
  });

  it('should name the CLI by a full path that exists and runs from anywhere, and say how to put it on PATH', () => {
    const lines = startBanner({ ...sample, clone: root });
    const cli = `${root}/bin/dm-switch.js`;
    expect(lines.filter((l) => l.includes(`TEMPORAL_ADDRESS=127.0.0.1:7233 ${cli} `))).toHaveLength(2);
    expect(lines.join('\n')).not.toMatch(/npx dm-switch|(^|\s)dm-switch (start|approve)/m);
    expect(existsSync(cli) && (statSync(cli).mode & 0o111) !== 0).toBe(true);
    expect(lines).toContain(`the CLI as dm-switch on PATH (the name its own hints use): npm link, once, in ${root}`);
  });

  it('given no sandbox and no worker, should say there is none and still give the commands with full paths', () => {
    const { sandbox: _none, worker: _noWorker, ...bare } = sample;
    const text = startBanner(bare).join('\n');
    expect(text).toContain('worker: none (no DM_SWITCH_CONFIG, see above)');
    expect(text).toContain(
      `${sample.temporal.cli} --address 127.0.0.1:7233 workflow start --task-queue dm-switch --type vipSwitch`,
    );
    expect(text).toContain(`TEMPORAL_ADDRESS=127.0.0.1:7233 ${home}/dm-switch/bin/dm-switch.js start vip --file`);
    expect(text).not.toMatch(/demo-switch|webhook-token/);
  });
});
