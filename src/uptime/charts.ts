// Charts for the reports, as SVG rendered on the server: uptime per port (with the 97% NEVI line) and outage
// minutes by cause. Vega-Lite compiles a declarative chart to Vega, whose View renders SVG with no browser and
// no native canvas (renderer 'none' + toSVG). Both are maintained by the UW Interactive Data Lab, widely used,
// and keep the chart a small data spec instead of hand-drawn SVG geometry.
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { UPTIME_TARGET } from './nevi.ts';

async function render(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

export function uptimeChart(ports: { label: string; uptime: number }[], title = 'Uptime per port'): Promise<string> {
  return render({
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    width: Math.max(200, ports.length * 28),
    height: 240,
    layer: [
      {
        data: { values: ports.map((p) => ({ port: p.label, uptime: Number(p.uptime.toFixed(2)) })) },
        mark: 'bar',
        encoding: {
          x: { field: 'port', type: 'nominal', sort: null, title: 'Port' },
          y: {
            field: 'uptime',
            type: 'quantitative',
            title: 'Uptime %',
            scale: { domain: [Math.min(90, ...ports.map((p) => p.uptime)), 100] },
          },
          color: {
            condition: { test: `datum.uptime < ${UPTIME_TARGET}`, value: '#c0392b' },
            value: '#2e86c1',
          },
        },
      },
      {
        data: { values: [{ target: UPTIME_TARGET }] },
        mark: { type: 'rule', strokeDash: [4, 4], color: '#555' },
        encoding: { y: { field: 'target', type: 'quantitative' } },
      },
    ],
  } as TopLevelSpec);
}

export function causeChart(
  causes: { causeCode: string; minutes: number }[],
  title = 'Outage minutes by cause',
): Promise<string> {
  return render({
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    width: 360,
    height: Math.max(60, causes.length * 22),
    data: { values: causes.map((c) => ({ cause: c.causeCode, minutes: Number(c.minutes.toFixed(2)) })) },
    mark: 'bar',
    encoding: {
      y: { field: 'cause', type: 'nominal', sort: '-x', title: 'Cause' },
      x: { field: 'minutes', type: 'quantitative', title: 'Outage minutes' },
    },
  } as TopLevelSpec);
}
