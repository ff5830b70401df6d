// EV-ChART files are opened in spreadsheets before they are uploaded: a text cell that starts with =, +, -, @, a
// tab or a carriage return would run as a formula there (station ids may start with = + - @; exclusion and
// maintenance notes are free text). Such cells are written with a leading apostrophe, as the transactions CSV
// does; plain numbers, negative ones too, stay numbers.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'csv-parse/sync';
import { MODULE_COLUMNS, toCsv } from '../src/uptime/evchart.ts';

const cells = (csv: string) => parse(csv, { columns: true }) as Record<string, string>[];

describe('EV-ChART CSV cells', () => {
  it('neutralises cells a spreadsheet would run as a formula', () => {
    const [row] = cells(
      toCsv(2, [
        {
          station_id: '=1+2',
          port_id: '1-1',
          charger_id: '@SUM(A1)',
          session_id: '+cmd|x',
          error_other: '-2+3',
          payment_other: '\tTAB',
          energy_kwh: '12.50',
          power_kw: '7.20',
        },
      ]),
    );
    assert.equal(row!.station_id, "'=1+2");
    assert.equal(row!.charger_id, "'@SUM(A1)");
    assert.equal(row!.session_id, "'+cmd|x");
    assert.equal(row!.error_other, "'-2+3");
    assert.equal(row!.payment_other, "'\tTAB");
    assert.equal(row!.port_id, '1-1', 'a dash inside a cell is harmless');
    assert.equal(row!.energy_kwh, '12.50');
    const [outage] = cells(
      toCsv(4, [{ station_id: 'CP-1', excluded_outage_notes: '=HYPERLINK("http://evil.example","fix")' }]),
    );
    assert.equal(outage!.excluded_outage_notes, '\'=HYPERLINK("http://evil.example","fix")');
    const [maintenance] = cells(
      toCsv(5, [{ station_id: 'CP-1', maintenance_notes: '\rnote', maintenance_cost_total: '-12.34' }]),
    );
    assert.equal(maintenance!.maintenance_notes, "'\rnote");
    assert.equal(maintenance!.maintenance_cost_total, '-12.34', 'a negative number is a number, not a formula');
  });

  it('keeps the columns and order of each module', () => {
    for (const module of [2, 3, 4, 5] as const) {
      const header = toCsv(module, []).trim().split(',');
      assert.deepEqual(header, [...MODULE_COLUMNS[module]]);
    }
  });
});
