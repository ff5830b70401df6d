// Small helpers the route modules share: ISO timestamps, the caller's station filter in queries, counts.
import type { SelectQueryBuilder } from 'kysely';
import type { Visible } from './scope.ts';

export const iso = (d: Date | string | null | undefined): string | null =>
  d === null || d === undefined ? null : (d instanceof Date ? d : new Date(d)).toISOString();

/** Limits a query to the stations the caller may see (a column of station ids). */
export function withinScope<DB, TB extends keyof DB, O>(
  query: SelectQueryBuilder<DB, TB, O>,
  column: string,
  visible: Visible,
): SelectQueryBuilder<DB, TB, O> {
  if (visible === 'all') return query;
  // No visible station: a condition that is never true (an empty IN list is not valid SQL).
  if (visible.length === 0) return query.where((eb) => eb.val(false));
  return query.where(column as any, 'in', visible);
}

export const countOf = (row: { n: string | number | bigint } | undefined): number => Number(row?.n ?? 0);
