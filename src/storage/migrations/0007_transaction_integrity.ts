// Transactions whose figures hold whatever order and clock their events come with. The readings behind a
// transaction's meter start and stop are chosen by the order the charger sent them (a 2.0.1 seqNo; 1.6 start,
// meter values, stop), not by their timestamps: meter_start_seq / meter_stop_seq are those places. start_seq_no /
// end_seq_no are the seqNos of the charger's Started and Ended events, events_complete says every event between them
// is in (a CDR waits for it), and id_unknown flags a transaction named by an id the CSMS assigns but never assigned
// (a 1.6 StopTransaction for an unknown id). NotifyEvent's trigger gets a column, and sessions billed to no one
// (a refused token, an unknown transaction) are recorded in failed_sessions with their reason.
import { sql, type Kysely } from 'kysely';

const statements = [
  sql`ALTER TABLE transactions
    ADD COLUMN meter_start_seq integer,
    ADD COLUMN meter_stop_seq integer,
    ADD COLUMN start_seq_no integer,
    ADD COLUMN end_seq_no integer,
    ADD COLUMN events_complete boolean NOT NULL DEFAULT false,
    ADD COLUMN id_unknown boolean NOT NULL DEFAULT false`,
  // Rows stored before: their readings keep their places (the start first, the stop where the log got to), ended
  // ones are complete (they were billed when they ended), and running ones know their Started event.
  sql`UPDATE transactions SET
    meter_start_seq = CASE WHEN meter_start_wh IS NULL THEN NULL ELSE 0 END,
    meter_stop_seq = CASE WHEN meter_stop_wh IS NULL THEN NULL ELSE COALESCE(last_seq_no, 1) END,
    events_complete = (status = 'ended')`,
  sql`UPDATE transactions t SET start_seq_no = e.seq_no
    FROM transaction_events e
    WHERE e.transaction_id = t.id AND e.event_type = 'started' AND t.status = 'active'`,
  sql`ALTER TABLE station_events ADD COLUMN trigger text`,
  sql`ALTER TABLE failed_sessions DROP CONSTRAINT failed_sessions_reason_check`,
  sql`ALTER TABLE failed_sessions ADD CONSTRAINT failed_sessions_reason_check
    CHECK (reason IN ('below_min_energy', 'below_min_duration', 'token_refused', 'unknown_transaction'))`,
];

export async function up(db: Kysely<unknown>): Promise<void> {
  for (const statement of statements) await statement.execute(db);
}
