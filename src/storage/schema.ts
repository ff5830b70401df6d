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
}
