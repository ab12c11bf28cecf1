/**
 * A realistic IO mapping for the Teltonika FMB920 (AVL ids from Teltonika's FMB920 parameter list). Raw values
 * arrive as the tracker encodes them: unsigned integers of `byte_size` bytes, so signed and scaled elements need
 * this table to mean anything.
 */
export interface IoMappingRow {
  io_id: number;
  attribute: string;
  value_type: 'unsigned' | 'signed' | 'boolean' | 'hex' | 'ascii';
  byte_size: number;
  multiplier: number;
  offset: number;
  unit: string | null;
  invalid_values: (number | string)[] | null;
}

const row = (
  io_id: number,
  attribute: string,
  value_type: IoMappingRow['value_type'],
  byte_size: number,
  { multiplier = 1, offset = 0, unit = null as string | null, invalid = null as (number | string)[] | null } = {},
): IoMappingRow => ({ io_id, attribute, value_type, byte_size, multiplier, offset, unit, invalid_values: invalid });

export const fmb920IoMapping: IoMappingRow[] = [
  row(239, 'ignition', 'boolean', 1),
  row(240, 'movement', 'boolean', 1),
  row(80, 'data_mode', 'unsigned', 1),
  row(21, 'gsm_signal', 'unsigned', 1, { unit: 'bars' }),
  row(200, 'sleep_mode', 'unsigned', 1),
  row(69, 'gnss_status', 'unsigned', 1),
  row(181, 'gnss_pdop', 'unsigned', 2, { multiplier: 0.1 }),
  row(182, 'gnss_hdop', 'unsigned', 2, { multiplier: 0.1 }),
  row(66, 'external_voltage', 'unsigned', 2, { multiplier: 0.001, unit: 'V' }),
  row(67, 'battery_voltage', 'unsigned', 2, { multiplier: 0.001, unit: 'V' }),
  row(68, 'battery_current', 'unsigned', 2, { multiplier: 0.001, unit: 'A' }),
  row(113, 'battery_level', 'unsigned', 1, { unit: '%' }),
  row(24, 'gnss_speed', 'unsigned', 2, { unit: 'km/h' }),
  row(205, 'gsm_cell_id', 'unsigned', 2),
  row(206, 'gsm_area_code', 'unsigned', 2),
  row(241, 'active_gsm_operator', 'unsigned', 4),
  row(199, 'trip_odometer', 'unsigned', 4, { unit: 'm' }),
  // Sent on 8 bytes by the firmware the organisers use; arrives as {"__bigint": "..."}.
  row(16, 'total_odometer', 'unsigned', 8, { unit: 'm' }),
  row(1, 'digital_input_1', 'boolean', 1),
  row(179, 'digital_output_1', 'boolean', 1),
  row(9, 'analog_input_1', 'unsigned', 2, { multiplier: 0.001, unit: 'V' }),
  // Dallas temperature: signed tenths of a degree; 850, 2000, 3000, 4000 and 5000 are sensor error codes.
  row(72, 'dallas_temperature_1', 'signed', 4, { multiplier: 0.1, unit: '°C', invalid: [850, 2000, 3000, 4000, 5000] }),
  row(17, 'axis_x', 'signed', 2, { unit: 'mG' }),
  row(18, 'axis_y', 'signed', 2, { unit: 'mG' }),
  row(19, 'axis_z', 'signed', 2, { unit: 'mG' }),
  row(11, 'iccid1', 'unsigned', 8),
  row(78, 'ibutton', 'hex', 8, { invalid: ['0000000000000000'] }),
  row(387, 'iso6709_coordinates', 'ascii', 34),
];
