/** A small hand-written SVG bar chart of the benchmark's own results (no library, no service). */

export interface Bar {
  label: string;
  figure: { median: number; min: number; max: number };
}

export interface Panel {
  title: string;
  bars: Bar[];
  digits: number;
}

export interface Chart {
  title: string;
  subtitle: string;
  panels: Panel[];
}

const COLORS: Record<string, string> = { floor: "#8c8c8c", stepwise: "#2f6fdf", dbos: "#e07b28" };
const NAMES: Record<string, string> = { floor: "raw INSERT (floor)", stepwise: "Stepwise", dbos: "DBOS Transact" };

const escape = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

export function renderChart(chart: Chart): string {
  const panelWidth = 440;
  const width = panelWidth * chart.panels.length + 40;
  const height = 320;
  const top = 90;
  const plotHeight = 180;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif">`);
  parts.push(`<rect width="100%" height="100%" fill="#ffffff"/>`);
  parts.push(`<text x="20" y="28" font-size="16" font-weight="bold" fill="#222">${escape(chart.title)}</text>`);
  parts.push(`<text x="20" y="48" font-size="12" fill="#555">${escape(chart.subtitle)}</text>`);
  chart.panels.forEach((panel, p) => {
    const x0 = 20 + p * panelWidth + 20;
    const innerWidth = panelWidth - 60;
    const max = Math.max(...panel.bars.map((b) => b.figure.max)) * 1.15 || 1;
    const scale = (v: number) => (v / max) * plotHeight;
    const baseY = top + plotHeight;
    parts.push(`<text x="${x0}" y="${top - 18}" font-size="12" font-weight="bold" fill="#222">${escape(panel.title)}</text>`);
    parts.push(`<line x1="${x0}" y1="${baseY}" x2="${x0 + innerWidth}" y2="${baseY}" stroke="#999"/>`);
    const slot = innerWidth / panel.bars.length;
    const barWidth = Math.min(70, slot * 0.6);
    panel.bars.forEach((bar, i) => {
      const cx = x0 + slot * i + slot / 2;
      const h = scale(bar.figure.median);
      const color = COLORS[bar.label] ?? "#555";
      parts.push(`<rect x="${(cx - barWidth / 2).toFixed(1)}" y="${(baseY - h).toFixed(1)}" width="${barWidth.toFixed(1)}" height="${h.toFixed(1)}" fill="${color}"/>`);
      // min-max whisker
      const yMin = baseY - scale(bar.figure.min);
      const yMax = baseY - scale(bar.figure.max);
      parts.push(`<line x1="${cx}" y1="${yMin.toFixed(1)}" x2="${cx}" y2="${yMax.toFixed(1)}" stroke="#222" stroke-width="1.5"/>`);
      parts.push(`<line x1="${cx - 6}" y1="${yMin.toFixed(1)}" x2="${cx + 6}" y2="${yMin.toFixed(1)}" stroke="#222" stroke-width="1.5"/>`);
      parts.push(`<line x1="${cx - 6}" y1="${yMax.toFixed(1)}" x2="${cx + 6}" y2="${yMax.toFixed(1)}" stroke="#222" stroke-width="1.5"/>`);
      const value = bar.figure.median.toLocaleString("en-US", { minimumFractionDigits: panel.digits, maximumFractionDigits: panel.digits });
      parts.push(`<text x="${cx}" y="${(yMax - 6).toFixed(1)}" font-size="12" text-anchor="middle" fill="#222">${escape(value)}</text>`);
      parts.push(`<text x="${cx}" y="${baseY + 18}" font-size="12" text-anchor="middle" fill="#222">${escape(NAMES[bar.label] ?? bar.label)}</text>`);
    });
  });
  parts.push(`</svg>`);
  return parts.join("\n") + "\n";
}
