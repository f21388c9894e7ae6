/** Plain-text tables for the terminal, and the JSON form every command also offers. */
import { escapeControl } from "./terminal.js";

export function table(rows: Record<string, string>[], columns: string[]): string {
  if (rows.length === 0) return "(none)";
  // Escaped before measuring, so that columns line up as printed.
  rows = rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, escapeControl(v)])));
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => (r[c] ?? "").length)));
  const line = (cells: string[]) => cells.map((cell, i) => cell.padEnd(widths[i]!)).join("  ").trimEnd();
  return [line(columns), line(widths.map((w) => "-".repeat(w))), ...rows.map((r) => line(columns.map((c) => r[c] ?? "")))].join("\n");
}

/** JSON that keeps Dates readable and BigInts exact. */
export function json(value: unknown): string {
  return JSON.stringify(
    value,
    (_key, v: unknown) => {
      if (typeof v === "bigint") return v.toString();
      if (v instanceof Map) return Object.fromEntries(v);
      if (v instanceof Set) return [...v];
      if (v instanceof Error) return { ...v, name: v.name, message: v.message };
      return v;
    },
    2,
  );
}

export function brief(value: unknown, max = 60): string {
  const text = value === undefined ? "" : typeof value === "string" ? JSON.stringify(value) : json(value).replace(/\s+/g, " ");
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

export function time(date: Date | null | undefined): string {
  return date ? date.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z") : "";
}

export function duration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  return `${Math.floor(ms / 60_000)}m${Math.round((ms % 60_000) / 1000)}s`;
}
