// A small OCPP 2.0.1 device model for the simulated station: the controller variables a CSMS commonly
// reads and writes (heartbeat, sampling, authorization, transaction points, security) and per-EVSE data.
// GetVariables / SetVariables / GetBaseReport / GetReport all work from this one table.

export type Mutability = 'ReadOnly' | 'WriteOnly' | 'ReadWrite';
export type DataType = 'string' | 'decimal' | 'integer' | 'boolean' | 'OptionList' | 'MemberList';

export interface DeviceVariable {
  component: string;
  evseId?: number;
  connectorId?: number;
  variable: string;
  value: string;
  mutability: Mutability;
  dataType: DataType;
  unit?: string;
  /** Called after a successful write, so the station applies the new value (e.g. a heartbeat interval). */
  onChange?: (value: string) => void;
}

interface ComponentRef {
  name: string;
  evse?: { id: number; connectorId?: number };
}

export type GetStatus = 'Accepted' | 'Rejected' | 'UnknownComponent' | 'UnknownVariable' | 'NotSupportedAttributeType';
export type SetStatus = GetStatus | 'RebootRequired';

export class DeviceModel {
  constructor(private readonly variables: DeviceVariable[]) {}

  all(): readonly DeviceVariable[] {
    return this.variables;
  }

  private componentMatches(v: DeviceVariable, component: ComponentRef): boolean {
    return (
      v.component === component.name &&
      v.evseId === component.evse?.id &&
      (component.evse?.connectorId === undefined || v.connectorId === component.evse.connectorId)
    );
  }

  private find(component: ComponentRef, variableName: string): DeviceVariable | GetStatus {
    const ofComponent = this.variables.filter((v) => this.componentMatches(v, component));
    if (ofComponent.length === 0) return 'UnknownComponent';
    return ofComponent.find((v) => v.variable === variableName) ?? 'UnknownVariable';
  }

  get(component: ComponentRef, variableName: string, attributeType = 'Actual'): { status: GetStatus; value?: string } {
    const found = this.find(component, variableName);
    if (typeof found === 'string') return { status: found };
    if (attributeType !== 'Actual') return { status: 'NotSupportedAttributeType' };
    if (found.mutability === 'WriteOnly') return { status: 'Rejected' };
    return { status: 'Accepted', value: found.value };
  }

  set(component: ComponentRef, variableName: string, value: string, attributeType = 'Actual'): SetStatus {
    const found = this.find(component, variableName);
    if (typeof found === 'string') return found;
    if (attributeType !== 'Actual') return 'NotSupportedAttributeType';
    if (found.mutability === 'ReadOnly') return 'Rejected';
    if (found.dataType === 'integer' && !/^-?\d+$/.test(value)) return 'Rejected';
    if (found.dataType === 'boolean' && value !== 'true' && value !== 'false') return 'Rejected';
    found.value = value;
    found.onChange?.(value);
    return 'Accepted';
  }

  /** Variables selected by GetReport's componentVariable filter (all of them without a filter). */
  select(filter: { component: ComponentRef; variable?: { name: string } }[] | undefined): DeviceVariable[] {
    if (!filter || filter.length === 0) return [...this.variables];
    return this.variables.filter((v) =>
      filter.some(
        (f) =>
          v.component === f.component.name &&
          (f.component.evse === undefined || this.componentMatches(v, f.component)) &&
          (f.variable === undefined || f.variable.name === v.variable),
      ),
    );
  }

  /** One NotifyReport reportData entry. */
  static reportData(v: DeviceVariable): Record<string, unknown> {
    const component: Record<string, unknown> = { name: v.component };
    if (v.evseId !== undefined) {
      component.evse = v.connectorId === undefined ? { id: v.evseId } : { id: v.evseId, connectorId: v.connectorId };
    }
    const attribute: Record<string, unknown> = {
      type: 'Actual',
      mutability: v.mutability,
      persistent: true,
      constant: false,
    };
    if (v.mutability !== 'WriteOnly') attribute.value = v.value;
    const characteristics: Record<string, unknown> = { dataType: v.dataType, supportsMonitoring: false };
    if (v.unit) characteristics.unit = v.unit;
    return {
      component,
      variable: { name: v.variable },
      variableAttribute: [attribute],
      variableCharacteristics: characteristics,
    };
  }
}
