import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { payload } from './stream-entry-fixture.ts';
import { parseStreamEntry } from '../../../src/domain/parse-stream-entry.ts';
import { payloadAttributesText } from '../../../src/domain/payload-attributes-text.ts';

/** The attributes text the processor stores for a payload: the cut-out text, or JSON.stringify of the parsed value. */
const accepted = (text: string) => {
  const parsed = parseStreamEntry({ ts: payload.timestamp, device_id: payload.device_id, codec: '8E', payload: text });
  if (!parsed.ok) throw new Error(`fixture refused: ${parsed.reason}`);
  return parsed.position.attributes;
};

describe('payloadAttributesText', () => {
  it('cuts out the attributes of a payload as the simulator writes it', () => {
    const text = JSON.stringify(payload);
    expect(payloadAttributesText(text)).toBe(JSON.stringify(payload.attributes));
  });

  it('reads the value of the key JSON.parse keeps, wherever it stands, with spaces around it', () => {
    const { attributes: _attributes, ...rest } = payload;
    const first = `{ "attributes" : {"1": 5, "2":{"__bigint":"12"}} , ${JSON.stringify(rest).slice(1)}`;
    expect(payloadAttributesText(first)).toBe('{"1": 5, "2":{"__bigint":"12"}}');
    expect(JSON.parse(payloadAttributesText(first)!)).toEqual(accepted(first));
    // A repeated key: JSON.parse keeps the last one, and so does the cut.
    const twice = `{"attributes":{"1":1},${JSON.stringify(rest).slice(1, -1)},"attributes":{"2":2}}`;
    expect(JSON.parse(payloadAttributesText(twice)!)).toEqual(accepted(twice));
  });

  it('does not take a device id that reads "attributes" for the key', () => {
    expect(payloadAttributesText('{"attributes":{"1":1},"device_id":"attributes"}')).toBe('{"1":1}');
  });

  it("takes the payload's own attributes, not those of a field the sender added after them", () => {
    const { attributes: _a, ...rest } = payload;
    const own = `${JSON.stringify(rest).slice(0, -1)},"attributes":{"16":48123456,"239":1}`;
    // What a tester sent: the fix was stored with {"16":5} as its raw IO.
    for (const added of ['"raw":{"attributes":{"16":5}}', '"log":[{"attributes":{"1":999}}]', '"note":"{\\"attributes\\":{}}"', '"n":{"a":{"attributes":{"2":2}}}']) {
      const text = `${own},${added}}`;
      if (text.includes('\\')) {
        expect(payloadAttributesText(text)).toBeNull();
        continue;
      }
      expect(payloadAttributesText(text)).toBe('{"16":48123456,"239":1}');
      expect(JSON.parse(payloadAttributesText(text)!)).toEqual(accepted(text));
    }
    // Braces and brackets inside a string of another field do not count.
    const braces = `${own},"label":"}]{ [","more":{"attributes":{"3":3}}}`;
    expect(payloadAttributesText(braces)).toBe('{"16":48123456,"239":1}');
  });

  it.each([
    ['a fraction', '{"1":1.5}'],
    ['a trailing zero', '{"1":1.0}'],
    ['an exponent', '{"1":1e3}'],
    ['minus zero', '{"1":-0}'],
    ['an integer past 15 digits', '{"1":1234567890123456}'],
    ['an escaped key', '{"\\u0031":1}'],
    ['an escaped base64 text', '{"78":{"__buffer_b64":"\\u0041Zo="}}'],
    ['a tab', '{"1":\t1}'],
    ['a line break', '{\n"1":1}'],
  ])('leaves %s to JSON.stringify', (_name, attributes) => {
    const { attributes: _a, ...rest } = payload;
    const text = `${JSON.stringify(rest).slice(0, -1)},"attributes":${attributes}}`;
    accepted(text);
    expect(payloadAttributesText(text)).toBeNull();
  });

  it('keeps negative and 15-digit integers, which JSON.stringify writes back alike', () => {
    const { attributes: _a, ...rest } = payload;
    const text = `${JSON.stringify(rest).slice(0, -1)},"attributes":{"1":-5,"2":123456789012345}}`;
    expect(payloadAttributesText(text)).toBe(JSON.stringify(accepted(text)));
  });

  it('gives the same value as the parsed attributes for any accepted payload', () => {
    const ioValue = fc.oneof(
      fc.integer({ min: -1e15 + 1, max: 1e15 - 1 }),
      // Numbers past 2^53 that are no 64-bit integer are refused (their digits are lost).
      fc.double({ min: -(2 ** 53), max: 2 ** 53, noNaN: true }),
      fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map((v) => ({ __bigint: String(v) })),
      fc.uint8Array({ minLength: 1, maxLength: 12 }).map((b) => ({ __buffer_b64: Buffer.from(b).toString('base64') })),
    );
    const attributes = fc.dictionary(fc.integer({ min: 0, max: 99_999 }).map(String), ioValue, { maxKeys: 30 });
    fc.assert(
      fc.property(attributes, fc.boolean(), (attrs, spaced) => {
        const text = JSON.stringify({ ...payload, attributes: attrs }, null, spaced ? ' ' : undefined);
        const parsed = accepted(text);
        const cut = payloadAttributesText(text);
        const plain = Object.values(attrs).every((v) => typeof v !== 'number' || (Number.isInteger(v) && !Object.is(v, -0) && Math.abs(v) < 1e15));
        if (!spaced && plain) expect(cut).not.toBeNull();
        if (cut === null) return;
        expect(JSON.parse(cut)).toEqual(parsed);
        expect(cut).not.toMatch(/[\\\t\n\r]/);
      }),
    );
  });
});
