// Receipts and invoices as PDF, with pdfkit (a maintained, dependency-light PDF writer). Plain layout: every
// figure on the page is the stored figure, formatted with the currency's digits, so the PDF says exactly what the
// JSON says.
import PDFDocument from 'pdfkit';
import { formatMinor } from './money.ts';
import type { CdrRecord } from './cdrs.ts';
import type { InvoiceRecord } from './invoices.ts';
import type { CostLine } from './pricing.ts';

function render(draw: (doc: PDFKit.PDFDocument) => void): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const doc = new PDFDocument({ size: 'A4', margin: 50, info: { Title: 'OpenCPO', Producer: 'OpenCPO' } });
    const chunks: Buffer[] = [];
    doc.on('data', (c: Buffer) => chunks.push(c));
    doc.on('end', () => resolve(Buffer.concat(chunks)));
    doc.on('error', reject);
    draw(doc);
    doc.end();
  });
}

const LINE_LABEL: Record<string, string> = {
  ENERGY: 'Energy',
  TIME: 'Charging time',
  FLAT: 'Session fee',
  PARKING_TIME: 'Idle time',
  MIN_PRICE: 'Minimum price adjustment',
  MAX_PRICE: 'Maximum price adjustment',
};

export function receiptPdf(cdr: CdrRecord): Promise<Buffer> {
  const c = cdr.currency;
  const lines = ((cdr.body as Record<string, unknown>).opencpo_cost_lines ?? []) as CostLine[];
  return render((doc) => {
    doc.fontSize(18).text(cdr.credit ? 'Credit note (charging session)' : 'Charging session receipt');
    doc.moveDown(0.5).fontSize(10);
    doc.text(`CDR ${cdr.id}`);
    if (cdr.creditReferenceId) doc.text(`Credits CDR ${cdr.creditReferenceId}`);
    doc.text(`Station ${cdr.stationId}, EVSE ${cdr.evseId}, connector ${cdr.connectorId}`);
    doc.text(`From ${cdr.startDateTime.toISOString()} to ${cdr.endDateTime.toISOString()}`);
    doc.text(`Energy ${cdr.totalEnergyKwh} kWh, idle time ${cdr.totalParkingTimeH} h`);
    if (cdr.tariffId) doc.text(`Tariff ${cdr.tariffId} version ${cdr.tariffVersion}`);
    doc.moveDown();
    for (const l of lines) {
      const label = LINE_LABEL[l.kind] ?? l.kind;
      const unit = l.unit === 'adjustment' ? '' : ` ${l.billedVolume} ${l.unit} x ${l.unitPrice}`;
      const vat = l.vatRate === null ? 'no VAT' : `VAT ${l.vatRate}%`;
      doc.text(`${label}${unit}: ${formatMinor(l.exclVat, c)} ${c} excl. VAT, ${vat} ${formatMinor(l.vat, c)}`);
    }
    doc.moveDown();
    doc.text(`Total excl. VAT: ${formatMinor(cdr.totalExclVat, c)} ${c}`);
    doc.text(`VAT: ${formatMinor(cdr.totalVat, c)} ${c}`);
    doc.fontSize(12).text(`Total incl. VAT: ${formatMinor(cdr.totalInclVat, c)} ${c}`);
  });
}

export function invoicePdf(invoice: InvoiceRecord): Promise<Buffer> {
  const b = invoice.body;
  const c = invoice.currency;
  return render((doc) => {
    doc.fontSize(18).text(`Invoice ${invoice.number}`);
    doc.moveDown(0.5).fontSize(10);
    if (b.supplementTo) doc.text(`Supplementary to invoice ${b.supplementTo}: sessions and credits heard of later`);
    doc.text(`Customer: ${b.accountName} (${b.accountId})`);
    doc.text(`Period: ${b.periodStart.slice(0, 10)} to ${b.periodEnd.slice(0, 10)} (exclusive)`);
    doc.text(`Issued: ${b.issuedAt.slice(0, 10)}`);
    doc.moveDown();
    for (const l of b.lines) {
      doc.text(
        `${l.date.slice(0, 16).replace('T', ' ')}  ${l.credit ? 'CREDIT ' : ''}session ${l.cdrId}  ${l.stationId}  ` +
          `${l.energyKwh} kWh  ${formatMinor(l.exclVat, c)} + VAT ${formatMinor(l.vat, c)} = ${formatMinor(l.inclVat, c)} ${c}`,
      );
    }
    doc.moveDown();
    for (const r of b.vatByRate)
      doc.text(
        `VAT ${r.rate === null ? 'not applicable' : `${r.rate}%`} on ${formatMinor(r.exclVat, c)}: ${formatMinor(r.vat, c)} ${c}`,
      );
    doc.moveDown();
    doc.text(`Total excl. VAT: ${formatMinor(b.total.exclVat, c)} ${c}`);
    doc.text(`VAT: ${formatMinor(b.total.vat, c)} ${c}`);
    doc.fontSize(12).text(`Total incl. VAT: ${formatMinor(b.total.inclVat, c)} ${c}`);
  });
}
