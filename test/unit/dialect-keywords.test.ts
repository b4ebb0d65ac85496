/**
 * No statement, variable or column name that depends on the server's version is spelled in activities/ or
 * workflows/: each comes from the dialect (common/mysql/dialect.ts), decided from the server's version. A keyword
 * written into an activity is what made every switch against MySQL 5.7 or 8.0.21 fail at preflight with a syntax
 * error. Comments may name them; code may not.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = new URL('../..', import.meta.url).pathname;

/** Spellings that exist only in some versions (or whose replacement does). */
const VERSION_DEPENDENT = [
  /SHOW\s+(ALL\s+)?(SLAVES?|REPLICAS?)\s+STATUS/i,
  /SHOW\s+(SLAVE|REPLICA)\s+HOSTS/i,
  /SHOW\s+REPLICAS\b/i,
  /SHOW\s+(MASTER|BINARY\s+LOG|BINLOG)\s+STATUS/i,
  /\b(START|STOP|RESET)\s+(SLAVE|REPLICA)\b/i,
  /\blog_(slave|replica)_updates\b/i,
  /\b(slave|replica)_skip_errors\b/i,
  /\breplication_applier_(global_)?filters\b/i,
  /\bbinlog_row_value_options\b/i,
  /\bbinlog_transaction_compression\b/i,
  /\bsuper_read_only\b/i,
  /['"`](Replica|Slave)_(IO|SQL)_Running/,
  /['"`](Source|Master)_(Host|Port|UUID|Server_Id)\b/,
];

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return files(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

/** The code of a file without its comments (line and block comments; `//` inside a string is kept). */
export function code(text: string): string {
  let out = '';
  let i = 0;
  let quote: string | null = null;
  while (i < text.length) {
    const ch = text[i]!;
    if (quote) {
      out += ch;
      if (ch === '\\') out += text[++i] ?? '';
      else if (ch === quote) quote = null;
      i++;
    } else if (ch === '/' && text[i + 1] === '/') {
      while (i < text.length && text[i] !== '\n') i++;
    } else if (ch === '/' && text[i + 1] === '*') {
      const end = text.indexOf('*/', i + 2);
      i = end < 0 ? text.length : end + 2;
    } else {
      if (ch === "'" || ch === '"' || ch === '`') quote = ch;
      out += ch;
      i++;
    }
  }
  return out;
}

describe('version-dependent keywords', () => {
  it('given activities/ and workflows/, should spell no version-dependent statement or variable in code', () => {
    const found: string[] = [];
    for (const file of [...files(join(ROOT, 'activities')), ...files(join(ROOT, 'workflows'))]) {
      const lines = code(readFileSync(file, 'utf8')).split('\n');
      lines.forEach((line) => {
        for (const re of VERSION_DEPENDENT) {
          if (re.test(line)) found.push(`${file.slice(ROOT.length)}: ${line.trim()} (${re})`);
        }
      });
    }
    expect(found).toEqual([]);
  });

  it('given a statement in code, should find it; given it in a comment, should not', () => {
    const sample = [
      '// SHOW SLAVE STATUS is for 5.7',
      '/* log_slave_updates */',
      "const a = 'https://x//y';",
      "const sql = 'SHOW REPLICA STATUS';",
    ].join('\n');
    const lines = code(sample).split('\n');
    const hits = lines.filter((l) => VERSION_DEPENDENT.some((re) => re.test(l)));
    expect(hits).toEqual(["const sql = 'SHOW REPLICA STATUS';"]);
  });
});
