// CSV text cells for files people open in a spreadsheet. A cell that starts with =, +, -, @, a tab or a carriage
// return is a formula to Excel, LibreOffice and Google Sheets (CSV injection: a station id "=1+2" or a note
// "=HYPERLINK(...)" would run); such a cell gets a leading apostrophe, which they show as text. A plain number,
// negative or not, is data the spreadsheet should read as a number and stays as it is.
const FORMULA_START = /^[=+\-@\t\r]/;
const PLAIN_NUMBER = /^-?\d+(\.\d+)?$/;

export function neutraliseFormula(value: string): string {
  return FORMULA_START.test(value) && !PLAIN_NUMBER.test(value) ? `'${value}` : value;
}
