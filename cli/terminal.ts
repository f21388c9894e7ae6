/**
 * Everything the CLI prints goes through here. Workflow names, IDs, error messages and
 * values come from the database, so they may hold terminal control sequences: an
 * ESC[2J clears the operator's screen, an OSC sequence retitles the window or forges a
 * hyperlink. Control characters (C0 but tab and newline, DEL, C1) and the bidi
 * overrides that reorder what is shown are printed escaped, as \xNN or \u{NNNN}.
 */

const UNSAFE = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/g;

export function escapeControl(text: string): string {
  return text.replace(UNSAFE, (c) => {
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u{${code.toString(16)}}`;
  });
}

/** Prints a line on stdout, control characters escaped. */
export function print(text: string): void {
  process.stdout.write(`${escapeControl(text)}\n`);
}

/** Prints a line on stderr, control characters escaped. */
export function printError(text: string): void {
  process.stderr.write(`${escapeControl(text)}\n`);
}
