// The whole database as Kysely sees it: each domain folder owns its tables; this file only puts them together.
import type {
  CommandLogTable,
  ConfigurationKeysTable,
  ConnectorStatusTable,
  ConnectorsTable,
  DeviceModelVariablesTable,
  EvsesTable,
  StationEventsTable,
  StationsTable,
} from '../stations/tables.ts';
import type {
  IdTokensTable,
  MeterSamplesTable,
  TransactionEventsTable,
  TransactionsTable,
} from '../sessions/tables.ts';

// Uptime and field service (issue 5), and the shared outbox.
import type {
  UptimeCauseCorrectionsTable,
  UptimeExclusionsTable,
  UptimeMaintenanceWindowsTable,
  UptimeOpeningHoursTable,
  UptimeOutagesTable,
  UptimeStationLocationsTable,
} from '../uptime/tables.ts';
import type {
  AlertRulesTable,
  AlertsTable,
  FieldserviceWebhooksTable,
  StationZonesTable,
  TechniciansTable,
  WorkOrderEventsTable,
  WorkOrdersTable,
} from '../fieldservice/tables.ts';
import type { OutboxTable } from './outbox.ts';
import type { ApiIdempotencyTable } from '../api/idempotency.ts';
import type { ApiKeysTable, AuditLogTable, UserSessionsTable, UsersTable } from '../access/tables.ts';
import type {
  ConnectorSpecsTable,
  LocalListVersionsTable,
  LocationsTable,
  OrganisationsTable,
  StationAssetsTable,
} from '../assets/tables.ts';

import type {
  BillingAccountsTable,
  BillingAccountTokensTable,
  CdrsTable,
  FailedSessionsTable,
  InvoiceCountersTable,
  InvoicesTable,
  LedgerEntriesTable,
  PaymentsTable,
  SessionPricingTable,
  TariffAssignmentsTable,
  TariffsTable,
  TariffVersionsTable,
} from '../billing/tables.ts';

export interface Database {
  stations: StationsTable;
  evses: EvsesTable;
  connectors: ConnectorsTable;
  connector_status: ConnectorStatusTable;
  station_events: StationEventsTable;
  device_model_variables: DeviceModelVariablesTable;
  configuration_keys: ConfigurationKeysTable;
  command_log: CommandLogTable;
  id_tokens: IdTokensTable;
  transactions: TransactionsTable;
  transaction_events: TransactionEventsTable;
  meter_samples: MeterSamplesTable;
  organisations: OrganisationsTable;
  locations: LocationsTable;
  station_assets: StationAssetsTable;
  connector_specs: ConnectorSpecsTable;
  local_list_versions: LocalListVersionsTable;
  users: UsersTable;
  user_sessions: UserSessionsTable;
  api_keys: ApiKeysTable;
  audit_log: AuditLogTable;
  api_idempotency: ApiIdempotencyTable;
  // Uptime and field service (issue 5), and the shared outbox.
  outbox: OutboxTable;
  uptime_outages: UptimeOutagesTable;
  uptime_cause_corrections: UptimeCauseCorrectionsTable;
  uptime_exclusions: UptimeExclusionsTable;
  uptime_maintenance_windows: UptimeMaintenanceWindowsTable;
  uptime_opening_hours: UptimeOpeningHoursTable;
  uptime_station_locations: UptimeStationLocationsTable;
  alert_rules: AlertRulesTable;
  alerts: AlertsTable;
  technicians: TechniciansTable;
  station_zones: StationZonesTable;
  work_orders: WorkOrdersTable;
  work_order_events: WorkOrderEventsTable;
  fieldservice_webhooks: FieldserviceWebhooksTable;
  // Billing (issue 4).
  tariffs: TariffsTable;
  tariff_versions: TariffVersionsTable;
  tariff_assignments: TariffAssignmentsTable;
  billing_accounts: BillingAccountsTable;
  billing_account_tokens: BillingAccountTokensTable;
  session_pricing: SessionPricingTable;
  cdrs: CdrsTable;
  failed_sessions: FailedSessionsTable;
  invoice_counters: InvoiceCountersTable;
  invoices: InvoicesTable;
  ledger_entries: LedgerEntriesTable;
  payments: PaymentsTable;
}
