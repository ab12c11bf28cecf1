/** What stands in for a credential in a URL that is logged or stored. */
export const REDACTED = '***';

/**
 * Query parameters whose value is a credential by its name: token, key, secret, signature, password, access_token,
 * api_key, X-Amz-Signature, auth, session and the like. Matched anywhere in the name, so `api_key` and `apikey` both
 * count; a harmless parameter that happens to match (`monkey`) only loses its value in the log.
 */
const SECRET_PARAMETER = /token|key|secret|sig|pass|pwd|auth|credential|session|jwt|code/i;

/**
 * A URL as it may be recorded where admins and logs read it: the userinfo (`user:pass@`) and the values of
 * credential-looking query parameters replaced by `***`, the fragment dropped. Text that is not a URL keeps only
 * what cannot be a credential: its scheme and host if they can be made out, otherwise nothing.
 */
export function redactUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return redactUnparsable(url);
  }
  if (parsed.username || parsed.password) {
    parsed.username = REDACTED;
    parsed.password = '';
  }
  for (const name of new Set(parsed.searchParams.keys())) {
    if (SECRET_PARAMETER.test(name)) parsed.searchParams.set(name, REDACTED);
  }
  parsed.hash = '';
  // URLSearchParams encodes `*` as `%2A`; keep the marker readable.
  return parsed.toString().replaceAll('%2A%2A%2A', REDACTED);
}

function redactUnparsable(text: string): string {
  const head = /^([a-z][a-z0-9+.-]*:\/\/)(?:[^/?#@]*@)?([^/?#@\s]*)/i.exec(text.trim());
  return head ? `${head[1]}${head[2]}/${REDACTED}` : REDACTED;
}
