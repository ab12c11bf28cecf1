/** A value shown in a message, cut to its first `max` characters with an ellipsis when longer: messages are stored. */
export function cutShort(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}
