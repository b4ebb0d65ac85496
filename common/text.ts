/**
 * Text from outside (alert labels and annotations, a server's error, DM's
 * answers) made safe to show a person: no terminal escape sequences, control
 * characters, or bidirectional overrides that could make an approver read
 * something other than what happened. Pure; the workflows use it too.
 */
// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]|\x9b[0-?]*[ -/]*[@-~]/g;
// C0 controls but tab and newline, DEL, C1 controls, bidirectional controls, zero-width characters, BOM
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]/g;

/** `s` without escape sequences and unsafe characters; with `oneLine`, newlines and tabs become spaces too. */
export function printable(s: string, oneLine = false): string {
  const clean = s.replace(ANSI, '').replace(UNSAFE, '');
  return oneLine ? clean.replace(/[\r\n\t]+/g, ' ') : clean;
}

/** `s` as plain text inside markdown (the Temporal UI's current details): printable, one line, no markup or links. */
export function markdownText(s: string): string {
  return printable(s, true).replace(/[\\`*_[\]<>#|~!]/g, (c) => `\\${c}`);
}
