import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { networkInterfaces } from 'node:os';

/**
 * Outgoing POSTs that refuse the addresses Directus refuses for its own Webhook / Request URL operation: env
 * `IMPORT_IP_DENY_LIST` (default `0.0.0.0,169.254.169.254`, where `0.0.0.0` stands for every address of this
 * machine's network interfaces). As in Directus (`api/src/request/agent-with-ip-validation.ts`, `is-denied-ip.ts`),
 * the check is made on the address the socket actually connects to, after DNS, so a hostname that resolves to a
 * denied address (or is re-pointed to one after a first check) is refused too.
 *
 * Kept free of Directus and of relative imports, so it is unit-tested from the root project as it is.
 */

/** Directus's default for IMPORT_IP_DENY_LIST. */
export const DIRECTUS_DEFAULT_DENY_LIST = ['0.0.0.0', '169.254.169.254'];

export class DeniedAddressError extends Error {
  override name = 'DeniedAddressError';
}

export class UnsupportedUrlError extends Error {
  override name = 'UnsupportedUrlError';
}

export class RequestTimeoutError extends Error {
  override name = 'TimeoutError';
}

/** Directus hands env lists over as arrays; a raw comma-separated string is accepted too. Absent: its default. */
export function denyListFrom(value: unknown): string[] {
  if (value === undefined || value === null) return DIRECTUS_DEFAULT_DENY_LIST;
  const items = Array.isArray(value) ? value.map(String) : String(value).split(',');
  return items.map((item) => item.trim()).filter((item) => item !== '');
}

const familyOf = (ip: string): 'ipv4' | 'ipv6' => (isIP(ip) === 6 ? 'ipv6' : 'ipv4');

/**
 * A predicate "is this IP denied?" for a deny list of addresses, CIDR subnets (`10.0.0.0/8`) and ranges
 * (`10.0.0.1-10.0.0.9`). `0.0.0.0` denies this machine's own interfaces (loopback subnets included) and, beyond
 * Directus, the unspecified addresses `0.0.0.0` and `::`, which reach this machine too. A list that cannot be
 * parsed denies everything, as in Directus. IPv4-mapped IPv6 addresses match their IPv4 rules.
 */
export function ipDenyChecker(list: readonly string[]): (ip: string) => boolean {
  if (list.length === 0) return () => false;
  const blocked = new BlockList();
  try {
    for (const item of list) {
      if (item === '0.0.0.0') {
        blocked.addAddress('0.0.0.0', 'ipv4');
        blocked.addAddress('::', 'ipv6');
        for (const info of Object.values(networkInterfaces()).flat()) {
          if (!info) continue;
          if (info.internal && info.cidr) {
            const [network, prefix] = info.cidr.split('/');
            blocked.addSubnet(network!, Number(prefix), familyOf(network!));
          } else blocked.addAddress(info.address, familyOf(info.address));
        }
      } else if (item.includes('-')) {
        const [from, to] = item.split('-').map((part) => part.trim());
        if (!from || !to || !isIP(from) || !isIP(to)) throw new Error(`invalid range "${item}"`);
        blocked.addRange(from, to, familyOf(from));
      } else if (item.includes('/')) {
        const [network, prefix] = item.split('/');
        if (!network || !isIP(network) || !/^\d+$/.test(prefix ?? '')) throw new Error(`invalid subnet "${item}"`);
        blocked.addSubnet(network, Number(prefix), familyOf(network));
      } else {
        if (!isIP(item)) throw new Error(`invalid address "${item}"`);
        blocked.addAddress(item, familyOf(item));
      }
    }
  } catch {
    return () => true;
  }
  return (ip: string) => blocked.check(ip, familyOf(ip));
}

const deniedMessage = (url: string, address: string) =>
  `Requested URL "${url}" resolves to a denied IP address (${address}; see IMPORT_IP_DENY_LIST)`;

/** dns.lookup that fails with DeniedAddressError when any address it found is denied. */
function guardedLookup(url: string, isDenied: (ip: string) => boolean): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, options, (error, address, family) => {
      if (error) return callback(error, address as string, family);
      const found: LookupAddress[] = Array.isArray(address) ? address : [{ address: address as string, family: family ?? 4 }];
      const denied = found.find((a) => isDenied(a.address));
      if (denied) return callback(new DeniedAddressError(deniedMessage(url, denied.address)) as NodeJS.ErrnoException, '', 4);
      callback(null, address as string, family);
    });
  };
}

export interface PostAnswer {
  status: number;
  /** The start of the answer's body, for logs. */
  text: string;
}

export interface PostRequest {
  headers: Record<string, string>;
  body: string;
  timeoutMs: number;
}

export type Post = (url: string, request: PostRequest) => Promise<PostAnswer>;

const BODY_SNIPPET = 2000;

/**
 * POSTs to an http(s) URL, refusing denied addresses (DeniedAddressError, before anything is sent), with a timeout
 * over the whole exchange (RequestTimeoutError). Redirects are not followed. Resolves with any status.
 * Connections are kept alive for the next POST of the same instance, and only of it: a socket checked against one
 * deny list is never reused under another.
 */
export function guardedPost(isDenied: (ip: string) => boolean): Post {
  const agents = {
    'http:': new http.Agent({ keepAlive: true }),
    'https:': new https.Agent({ keepAlive: true }),
  };
  return (url, { headers, body, timeoutMs }) =>
    new Promise<PostAnswer>((resolve, reject) => {
      let target: URL;
      try {
        target = new URL(url);
      } catch {
        return reject(new UnsupportedUrlError(`"${url}" is not a valid URL`));
      }
      const protocol = target.protocol as 'http:' | 'https:';
      if (protocol !== 'http:' && protocol !== 'https:') return reject(new UnsupportedUrlError(`"${url}": only http and https URLs are allowed`));
      const host = target.hostname.replace(/^\[(.*)\]$/, '$1');
      if (isIP(host) !== 0 && isDenied(host)) return reject(new DeniedAddressError(deniedMessage(url, host)));

      const client = protocol === 'https:' ? https : http;
      const req = client.request(target, {
        method: 'POST',
        headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
        agent: agents[protocol],
        lookup: guardedLookup(url, isDenied),
      });
      const timer = setTimeout(() => req.destroy(new RequestTimeoutError(`timed out after ${timeoutMs} ms`)), timeoutMs);
      req.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      req.once('response', (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          if (text.length < BODY_SNIPPET) text += chunk.slice(0, BODY_SNIPPET - text.length);
        });
        res.once('error', (error) => {
          clearTimeout(timer);
          reject(error);
        });
        res.once('end', () => {
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, text });
        });
      });
      req.end(body);
    });
}

const posts = new Map<string, Post>();

/** One guardedPost per deny list, kept for the process, so Flow runs share its kept-alive connections. */
export function guardedPostFor(denyList: readonly string[]): Post {
  const key = denyList.join(',');
  let post = posts.get(key);
  if (!post) posts.set(key, (post = guardedPost(ipDenyChecker(denyList))));
  return post;
}
