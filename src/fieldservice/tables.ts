// Tables owned by field service: alert rules and alerts, technicians, work orders and their history,
// webhook subscriptions for field-service systems.
import type { ColumnType, Generated, JSONColumnType } from 'kysely';

type Timestamp = ColumnType<Date, Date | string, Date | string>;

export interface AlertRulesTable {
  id: string;
  kind: string;
  /** Rule parameters, e.g. { minutes: 15 } or { attempts: 3 }. */
  threshold: JSONColumnType<Record<string, number>>;
  station_id: string | null;
  site_id: string | null;
  severity: string;
  auto_work_order: boolean;
  work_order_priority: string;
  /** Who is told: roles (routing per role) and e-mail addresses. */
  route_roles: JSONColumnType<string[]>;
  route_emails: JSONColumnType<string[]>;
  enabled: boolean;
}

export interface AlertsTable {
  id: Generated<string>;
  rule_id: string;
  dedupe_key: string;
  station_id: string;
  evse_id: number | null;
  connector_id: number | null;
  site_id: string | null;
  outage_id: string | null;
  severity: string;
  status: 'open' | 'resolved';
  summary: string;
  details: JSONColumnType<Record<string, unknown>>;
  occurrences: number;
  opened_at: Timestamp;
  last_seen_at: Timestamp;
  resolved_at: Timestamp | null;
}

export interface TechniciansTable {
  id: string;
  name: string;
  email: string | null;
  zones: JSONColumnType<string[]>;
  skills: JSONColumnType<string[]>;
  active: boolean;
}

export interface WorkOrdersTable {
  id: Generated<string>;
  outage_id: string | null;
  alert_id: string | null;
  station_id: string;
  evse_id: number | null;
  connector_id: number | null;
  site_id: string | null;
  symptom: string;
  cause_code: string | null;
  priority: string;
  sla_due_at: Timestamp;
  status: string;
  technician_id: string | null;
  required_skill: string | null;
  checklist: JSONColumnType<{ item: string; done: boolean }[]>;
  parts: JSONColumnType<{ part: string; quantity: number; unitCostMinor: number; currency: string }[]>;
  notes: JSONColumnType<{ at: string; by: string; text: string }[]>;
  attachments: JSONColumnType<{ name: string; contentType: string; url: string; sha256?: string }[]>;
  labor_cost_minor: number;
  currency: string;
  resolution: ColumnType<Record<string, unknown> | null, string | null, string | null>;
  en_route_at: Timestamp | null;
  on_site_at: Timestamp | null;
  time_on_site_s: number;
  resolved_at: Timestamp | null;
  verified_at: Timestamp | null;
  reopened_count: number;
  created_at: Generated<Date>;
  updated_at: Timestamp;
}

export interface WorkOrderEventsTable {
  id: Generated<string>;
  work_order_id: string;
  type: string;
  actor: string;
  details: JSONColumnType<Record<string, unknown>>;
  at: Timestamp;
}

export interface FieldserviceWebhooksTable {
  id: string;
  url: string;
  /** HMAC-SHA256 key; never returned by the API after creation. */
  secret: string;
  topics: JSONColumnType<string[]>;
  site_id: string | null;
  active: boolean;
  created_at: Generated<Date>;
}

export interface StationZonesTable {
  station_id: string;
  site_id: string | null;
  zone: string;
}
