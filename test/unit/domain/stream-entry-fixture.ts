/** A well-formed FMB920 payload of the stream (CONTRACTS section 1), shared by the entry-parsing tests. */
export const payload = {
  device_id: '350936080010018',
  timestamp: '2026-03-01T08:00:01.250Z',
  latitude: 31.43,
  longitude: -4.23,
  altitude: 760.5,
  angle: 96,
  speed: 87,
  satellites: 11,
  priority: 0,
  attributes: { '239': 1, '72': 4294967244, '16': { __bigint: '18446744073709551615' }, '78': { __buffer_b64: 'AZo/IQAAAGU=' } },
};
