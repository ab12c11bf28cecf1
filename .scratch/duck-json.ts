import { DuckDBInstance } from '@duckdb/node-api';
const inst = await DuckDBInstance.create(':memory:');
const c = await inst.connect();
const T = `'{"latitude":"DOUBLE","longitude":"DOUBLE","attributes":"JSON"}'`;
for (const text of [
  '{"latitude":1,"longitude":2,"attributes":{"1":1e400}}',
  '{"latitude":1,"longitude":2,"attributes":{"1":"\\ud800"}}',
  '{"latitude":1,"longitude":2,"note":"\\ud800x","attributes":{}}',
  '{"latitude":1,"longitude":2,"attributes":{"1":-0}}',
  '{"latitude":"x","latitude":1,"longitude":2,"attributes":{}}',
  '{"latitude":1e400,"longitude":2,"attributes":{}}',
  '{"latitude":1,"longitude":2,"attributes":{"\\ud800":1}}',
  '{"latitude":1,"longitude":2,"attributes":{"a":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}}',
]) {
  try {
    const r = await c.runAndReadAll(`SELECT json_valid($t) AS v, json_transform($t, ${T}) AS p`, { t: text });
    console.log(JSON.stringify(text).slice(0, 70), JSON.stringify(r.getRowsJS()[0], (k, v) => typeof v === 'bigint' ? String(v) : v));
  } catch (e) { console.log(JSON.stringify(text).slice(0, 70), 'ERROR', (e as Error).message.slice(0, 120)); }
  try { JSON.parse(text); } catch (e) { console.log('   JS refuses:', (e as Error).message.slice(0, 60)); }
}
