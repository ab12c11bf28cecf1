/** A json field as Directus may hand it over: its text, parsed; text that is no JSON stays as it is. */
export function parsedOrText(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
