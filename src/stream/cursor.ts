/** Orders two stream entry ids ("<ms>-<seq>"): negative when `a` comes first. */
export function compareCursor(a: string, b: string): number {
  const [aMs, aSeq] = a.split('-');
  const [bMs, bSeq] = b.split('-');
  const byMs = compareDigits(aMs ?? '0', bMs ?? '0');
  return byMs !== 0 ? byMs : compareDigits(aSeq ?? '0', bSeq ?? '0');
}

// Digit strings compared without Number: sequence numbers can pass 2^53.
function compareDigits(a: string, b: string): number {
  const x = a.replace(/^0+(?=\d)/, '');
  const y = b.replace(/^0+(?=\d)/, '');
  return x.length !== y.length ? x.length - y.length : x < y ? -1 : x > y ? 1 : 0;
}
