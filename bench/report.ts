import type { DesignKey } from './designs';

/** The figures compared per design (docs/benchmarks.md, "How it measures"), plus peak memory and CPU per order. */
export interface DesignMetrics {
  acceptP50Ms: number;
  acceptP99Ms: number;
  maxSustainedRps: number;
  terminalP50Ms: number;
  terminalP99Ms: number;
  completedPerSec: number;
  errors: number;
  violations: number;
  peakRssMb: number;
  /** CPU time per order at the light rate, summed over every process that took part (see cpuBreakdownTable). */
  cpuMsPerOrder: number;
  /** Share of the steady run's requests answered 503 OVERLOADED at once (load shedding); acceptP99Ms is over the accepted ones. */
  shedShare?: number;
  /** Accept p99 at 40 orders/s offered, from the ramp (undefined when the ramp stopped below it). */
  acceptP99MsAt40?: number;
  /** Temporal only: per completed order, from its history (bench/history-cost.ts) plus heartbeats from the server's metrics. */
  actionsPerOrder?: number;
  historyEventsPerOrder?: number;
  workflowTasksPerOrder?: number;
  actionsByKind?: Record<string, number>;
}

/** One cost target of docs/benchmarks.md and whether this run met it. */
export interface CostTarget {
  name: string;
  value: number;
  atMost: number;
  met: boolean;
}

export interface BenchReport {
  machine: Record<string, unknown>;
  targets: CostTarget[];
  settings: Record<string, unknown>;
  designs: Record<DesignKey, DesignMetrics>;
  details: Record<string, unknown>;
  ratios: Record<string, number>;
  startedAt: string;
  durationSec: number;
}

/** The figures that are numbers (every one but the breakdown of actions). */
type NumericMetric = Exclude<keyof DesignMetrics, 'actionsByKind'>;

const ROWS: Array<[NumericMetric, string]> = [
  ['acceptP50Ms', 'accept latency p50 (ms)'],
  ['acceptP99Ms', 'accept latency p99 (ms)'],
  ['maxSustainedRps', 'highest rate with accept p99 < 100 ms, no errors (orders/s)'],
  ['terminalP50Ms', 'submit to final status p50 (ms)'],
  ['terminalP99Ms', 'submit to final status p99 (ms)'],
  ['completedPerSec', 'completed orders per second'],
  ['errors', 'errors (steady run)'],
  ['violations', 'invariant violations under the failure mix'],
  ['peakRssMb', 'peak memory of the design\'s processes (MB RSS, sum)'],
  ['cpuMsPerOrder', 'CPU per order at the light rate, all processes (ms)'],
  ['shedShare', 'share of the steady run shed at once (503 OVERLOADED)'],
  ['acceptP99MsAt40', 'accept latency p99 at 40 orders/s (ms)'],
  ['actionsPerOrder', 'Temporal actions per completed order'],
  ['historyEventsPerOrder', 'history events per completed order'],
  ['workflowTasksPerOrder', 'workflow tasks per completed order'],
];

const fmt = (v: number | undefined) =>
  v === undefined ? '' : Number.isFinite(v) ? (Number.isInteger(v) ? String(v) : v.toFixed(1)) : 'n/a';

export function markdownTable(report: BenchReport, keys: DesignKey[]): string {
  const head = `| | ${keys.join(' | ')} |\n| --- | ${keys.map(() => '---:').join(' | ')} |`;
  const rows = ROWS.map(([k, label]) => `| ${label} | ${keys.map((d) => fmt(report.designs[d][k])).join(' | ')} |`);
  return [head, ...rows].join('\n');
}

/** Where each design's CPU per order goes, one column per design (details.<design>.light.cpuMsPerOrder). */
export function cpuBreakdownTable(report: BenchReport, keys: DesignKey[]): string {
  const perDesign = keys.map((k) => (report.details[k] as { light: { cpuMsPerOrder: Record<string, number> } }).light.cpuMsPerOrder);
  const components = [...new Set(perDesign.flatMap((d) => Object.keys(d)))].filter((c) => c !== 'total').concat('total');
  const head = `| CPU ms per order | ${keys.join(' | ')} |\n| --- | ${keys.map(() => '---:').join(' | ')} |`;
  const rows = components.map((c) => `| ${c} | ${perDesign.map((d) => (d[c] === undefined ? '' : fmt(d[c]))).join(' | ')} |`);
  return [head, ...rows].join('\n');
}

export function markdownReport(report: BenchReport, keys: DesignKey[]): string {
  const ratios = Object.entries(report.ratios).map(([k, v]) => `- ${k}: **${Number.isFinite(v) ? v.toFixed(2) : 'n/a'}×**`);
  const floorNote = keys.includes('temporalFloor')
    ? ["temporalFloor's violations count only orders that never ended: it keeps no stock or money, and its declined and out-of-stock orders complete.", '']
    : [];
  return [
    `# Benchmark results (${report.startedAt})`,
    '',
    `Machine: ${report.machine.cpuModel} × ${report.machine.cpus}, ${report.machine.memoryGiB} GiB, Node ${report.machine.node}, ${report.machine.postgres}`,
    `Settings: ${JSON.stringify(report.settings)}`,
    '',
    markdownTable(report, keys),
    '',
    ...floorNote,
    cpuBreakdownTable(report, keys),
    '',
    'Ratios, measured side by side in this run:',
    ...ratios,
    '',
    ...(report.targets.length ? ['Cost targets:', ...report.targets.map((t) => `- ${t.name}: ${t.value.toFixed(2)} (at most ${t.atMost}) ${t.met ? 'met' : `**missed** by ${(t.value - t.atMost).toFixed(2)}`}`), ''] : []),
  ].join('\n');
}

/** A small grouped bar chart, one panel per figure, as standalone SVG. */
export function svgChart(report: BenchReport, keys: DesignKey[]): string {
  const panels: Array<[NumericMetric, string]> = [
    ['acceptP99Ms', 'accept p99 (ms)'],
    ['terminalP99Ms', 'submit → final p99 (ms)'],
    ['completedPerSec', 'completed orders/s'],
    ['violations', 'violations (failure mix)'],
  ];
  const colours: Record<DesignKey, string> = { sync: '#9ca3af', rabbitmq: '#f97316', temporal: '#2563eb', temporalFloor: '#93c5fd' };
  const panelW = 260;
  const barH = 22;
  const panelH = 40 + keys.length * (barH + 8);
  const width = panels.length * panelW + 20;
  const height = panelH + 50;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
  ];
  panels.forEach(([metric, title], i) => {
    const x0 = 10 + i * panelW;
    const max = Math.max(1, ...keys.map((k) => report.designs[k][metric] ?? 0).filter(Number.isFinite));
    parts.push(`<text x="${x0}" y="20" font-weight="bold">${title}</text>`);
    keys.forEach((k, j) => {
      const v = report.designs[k][metric];
      const y = 34 + j * (barH + 8);
      const w = v !== undefined && Number.isFinite(v) ? Math.max(1, ((panelW - 90) * v) / max) : 0;
      parts.push(`<rect x="${x0}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${colours[k]}"/>`);
      parts.push(`<text x="${x0 + w + 4}" y="${y + 15}">${fmt(v)}</text>`);
    });
  });
  keys.forEach((k, j) => {
    const x = 10 + j * 150;
    parts.push(`<rect x="${x}" y="${panelH + 15}" width="12" height="12" fill="${colours[k]}"/>`);
    parts.push(`<text x="${x + 16}" y="${panelH + 25}">${k}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}
