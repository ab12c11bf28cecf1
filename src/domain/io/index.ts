export type { DecodedValue, IoMapping } from './io-mapping.ts';
export { IoDecodeError } from './io-decode-error.ts';
export { IoEncodeError } from './io-encode-error.ts';
export { decodeIoValue } from './decode-io-value.ts';
export { encodeIoValue } from './encode-io-value.ts';
export { decodeAttributes, type PreparedIoMapping } from './decode-attributes.ts';
export { ioValueDecoder, type IoValueDecoder } from './io-value-decoder.ts';
export { mappingVersion } from './mapping-version.ts';
