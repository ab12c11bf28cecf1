/** The `meta` of a half-width field in an operation's options form. */
export const half = (iface: string, extra: Record<string, unknown> = {}) => ({ width: 'half' as const, interface: iface, ...extra });
