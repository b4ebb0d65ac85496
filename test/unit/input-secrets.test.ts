/**
 * No password reaches a switch's input (it is kept in workflow history),
 * whatever the YAML style of a task configuration given for adoption: the
 * YAML is parsed and walked, not matched as text (a pattern misses a style).
 */
import { describe, expect, it } from 'vitest';
import { validateAddressSwitchInput, yamlSecretPaths } from '../../common/switch/input.js';

const request = (yaml: string) => ({
  sourceId: 'src',
  newInstance: { host: 'db-b', credentials: 'up' },
  taskCredentials: 'down',
  taskConfigs: { app: yaml },
});
const problems = (yaml: string) => {
  const v = validateAddressSwitchInput(request(yaml));
  return v.ok ? [] : v.problems;
};

describe('passwords in task configurations given by hand', () => {
  it.each([
    [
      'flow style',
      'name: app\ntarget-database: {host: tidb, user: root, password: hunter2}\n',
      'target-database.password',
    ],
    ['a quoted key', 'name: app\ntarget-database:\n  "password": hunter2\n', 'target-database.password'],
    ['another case', 'name: app\ntarget-database:\n  Password: hunter2\n', 'target-database.Password'],
    ['inside a list', 'name: app\nmysql-instances:\n  - {source-id: s, pwd: hunter2}\n', 'mysql-instances[0].pwd'],
    ['a JSON document', '{"name": "app", "target-database": {"passwd": "hunter2"}}', 'target-database.passwd'],
  ])('given a password in %s, should refuse naming where it is', (_how, yaml, where) => {
    expect(problems(yaml)).toEqual([
      expect.stringMatching(
        new RegExp(
          `^taskConfigs\\.app: contains a password or another secret \\(${where.replace(/[[\].]/g, '\\$&')}\\)`,
        ),
      ),
    ]);
  });

  it("given DM's mask or an empty password, should accept it", () => {
    expect(problems("name: app\ntarget-database: {host: tidb, password: '******'}\n")).toEqual([]);
    expect(problems('name: app\ntarget-database:\n  password: ""\n')).toEqual([]);
  });

  it('given a key twice (a password hidden behind an empty one), should refuse it as not valid YAML', () => {
    expect(problems("name: app\ntarget-database:\n  password: hunter2\n  password: ''\n")).toEqual([
      expect.stringMatching(/^taskConfigs\.app: is not valid YAML \(Map keys must be unique/),
    ]);
  });

  it('given text that is not one YAML document, should refuse it before anything changes', () => {
    expect(problems('name: app\n---\nname: b\n')).toEqual([expect.stringMatching(/is not valid YAML/)]);
  });

  it('given no password at all, should find none', () => {
    expect(yamlSecretPaths('name: app\ntarget-database: {host: tidb, port: 4000, user: root}\n')).toEqual([]);
  });
});
