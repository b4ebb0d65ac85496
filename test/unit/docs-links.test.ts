/**
 * The documentation a user clones must work on its own: every relative link in README.md and docs/*.md resolves to a
 * file inside the repository, and every #anchor into a markdown file names one of its headings, so no reader meets a
 * dead link (a link to a design file beside the repository was one). The README stays a short entry point; how a
 * switch works says so itself, without sending the reader away from the repository; and the documents name no ticket
 * numbers, which nobody who clones the project can look up.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');
const docs = [
  'README.md',
  ...readdirSync(join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

/** The prose of a markdown file: fenced code blocks and inline code spans blanked out, line numbers kept. */
export function prose(markdown: string): string[] {
  let fence: string | null = null;
  return markdown.split('\n').map((line) => {
    const open = /^\s*(```+|~~~+)/.exec(line);
    if (fence) {
      if (open && open[1]!.startsWith(fence)) fence = null;
      return '';
    }
    if (open) {
      fence = open[1]!;
      return '';
    }
    return line.replace(/(`+)[^`]*?\1/g, (m) => ' '.repeat(m.length));
  });
}

/** GitHub's anchor for a heading: lower case, markup and punctuation dropped, each space a hyphen. */
export function slug(heading: string): string {
  return heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\p{M} _-]/gu, '')
    .replace(/ /g, '-');
}

/** Every anchor a markdown file offers: its headings (a repeated heading gets -1, -2, …, as GitHub numbers them). */
export function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  const raw = markdown.split('\n');
  let fence: string | null = null;
  for (const line of raw) {
    const open = /^\s*(```+|~~~+)/.exec(line);
    if (fence) {
      if (open && open[1]!.startsWith(fence)) fence = null;
      continue;
    }
    if (open) {
      fence = open[1]!;
      continue;
    }
    const h = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!h) continue;
    const base = slug(h[1]!);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

type Link = { line: number; target: string };

/** Inline links and images `[text](target)`, autolinks `<scheme:…>` and reference definitions `[name]: target`. */
export function links(markdown: string): Link[] {
  const out: Link[] = [];
  prose(markdown).forEach((text, i) => {
    const line = i + 1;
    for (const m of text.matchAll(/\]\(\s*<?([^)\s>]*)>?(?:\s+"[^"]*")?\s*\)/g)) out.push({ line, target: m[1]! });
    for (const m of text.matchAll(/<([a-z][a-z0-9+.-]*:[^>\s]*)>/gi)) out.push({ line, target: m[1]! });
    const def = /^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s.*)?$/.exec(text);
    if (def) out.push({ line, target: def[1]! });
  });
  return out;
}

const hasScheme = (t: string) => /^[a-z][a-z0-9+.-]*:/i.test(t);

/** What is wrong with one link of `file` (a path relative to the repository), or null. */
export function problem(file: string, target: string, read: (path: string) => string | null): string | null {
  if (target === '') return 'an empty link';
  if (hasScheme(target)) {
    if (!/^https?:/i.test(target)) return `a ${target.split(':')[0]} link`;
    if (file === 'docs/how-it-works.md')
      return 'a link out of the repository; how it works is told here, in our own words';
    return null;
  }
  if (target.startsWith('//')) return 'a link to another host';
  const [pathPart, ...rest] = target.split('#');
  const anchor = rest.join('#');
  const path = decodeURIComponent(pathPart!.split('?')[0]!);
  if (path.startsWith('/')) return 'an absolute path: it resolves differently on every host; link relative to the file';
  const abs = path === '' ? join(root, file) : resolve(root, dirname(file), path);
  const rel = relative(root, abs);
  if (rel === '..' || rel.startsWith(`..${sep}`)) return `leaves the repository (${rel})`;
  const text = read(rel);
  if (text === null) return `no such file in the repository: ${rel}`;
  if (anchor && rel.endsWith('.md') && !anchors(text).has(anchor.toLowerCase()))
    return `no heading #${anchor} in ${rel}`;
  return null;
}

const readRepo = (rel: string): string | null => {
  const p = join(root, rel);
  if (!existsSync(p)) return null;
  return statSync(p).isDirectory() ? '' : readFileSync(p, 'utf8');
};

describe('the documentation', () => {
  it('has a README and the documents for each reader', () => {
    expect(docs).toEqual(
      expect.arrayContaining([
        'README.md',
        ...['operating', 'how-it-works', 'deploying', 'reference', 'development'].map((d) => `docs/${d}.md`),
      ]),
    );
  });

  it.each(docs)('given %s, every link resolves inside the repository, anchors included', (file) => {
    const text = readFileSync(join(root, file), 'utf8');
    const found = links(text);
    expect(found.length).toBeGreaterThan(0);
    const broken = found.flatMap(({ line, target }) => {
      const p = problem(file, target, readRepo);
      return p ? [`${file}:${line}: ${target}: ${p}`] : [];
    });
    expect(broken).toEqual([]);
  });

  it('keeps the README a short entry point (at most 220 lines)', () => {
    const lines = readFileSync(join(root, 'README.md'), 'utf8').replace(/\n$/, '').split('\n').length;
    expect(lines).toBeLessThanOrEqual(220);
  });

  it.each(docs)('given %s, names no ticket numbers and no file beside the repository', (file) => {
    const text = readFileSync(join(root, file), 'utf8');
    const hits = text
      .split('\n')
      .flatMap((l, i) =>
        /\bissues?\s*#?\d+|\(#\d+\)|(^|\s)#\d+\b|DESIGN\.md|\.\.\/shared\//i.test(l)
          ? [`${file}:${i + 1}: ${l.trim()}`]
          : [],
      );
    expect(hits).toEqual([]);
  });
});

describe('the link checker itself', () => {
  const files: Record<string, string> = {
    'README.md': '# Top\n\n## Two words\n\n## Two words\n',
    'docs/a.md': '# A (`x`)\n\n```\n# not a heading\n```\n\n### What: it, does\n',
  };
  const read = (rel: string) => files[rel] ?? null;

  it('given links that resolve, should find no problem', () => {
    expect(problem('README.md', 'docs/a.md', read)).toBeNull();
    expect(problem('README.md', 'docs/a.md#what-it-does', read)).toBeNull();
    expect(problem('docs/a.md', '../README.md#two-words-1', read)).toBeNull();
    expect(problem('docs/a.md', '#a-x', read)).toBeNull();
    expect(problem('README.md', 'https://temporal.io', read)).toBeNull();
  });

  it('given a link out of the repository, a missing file or a missing anchor, should name the problem', () => {
    expect(problem('README.md', '../shared/DESIGN.md', read)).toMatch(/leaves the repository/);
    expect(problem('docs/a.md', '../../x.md', read)).toMatch(/leaves the repository/);
    expect(problem('README.md', 'docs/missing.md', read)).toMatch(/no such file/);
    expect(problem('README.md', 'docs/a.md#not-a-heading', read)).toMatch(/no heading/);
    expect(problem('README.md', '/etc/passwd', read)).toMatch(/absolute path/);
    expect(problem('docs/how-it-works.md', 'https://example.org', read)).toMatch(/out of the repository/);
    expect(problem('README.md', 'file:///etc/passwd', read)).toMatch(/file link/);
  });

  it('given code, should not take it for links or headings', () => {
    expect(links('```\n[x](../out.md)\n```\n`[y](../out.md)` [z](ok.md)')).toEqual([{ line: 4, target: 'ok.md' }]);
    expect(anchors(files['docs/a.md']!)).toEqual(new Set(['a-x', 'what-it-does']));
  });
});
