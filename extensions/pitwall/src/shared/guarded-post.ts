import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { redactUrl } from '../../../../src/domain/webhooks/redact-url.ts';
import { webhookAddressPolicy, type AddressCheck, type WebhookAddressOptions } from './address-policy.ts';

/**
 * Outgoing POSTs that refuse the addresses a webhook must not reach (see address-policy: Directus's
 * `IMPORT_IP_DENY_LIST`, and Pitwall's refusal of private and special-purpose addresses). As in Directus
 * (`api/src/request/agent-with-ip-validation.ts`, `is-denied-ip.ts`), the check is made on the address the socket
 * actually connects to, after DNS, so a hostname that resolves to a refused address (or is re-pointed to one after a
 * first check) is refused too. Error messages carry the URL without its credentials.
 */

export class DeniedAddressError extends Error {
  override name = 'DeniedAddressError';
}

export class UnsupportedUrlError extends Error {
  override name = 'UnsupportedUrlError';
}

export class RequestTimeoutError extends Error {
  override name = 'TimeoutError';
}

const deniedMessage = (url: string, address: string, reason: string) =>
  `Requested URL "${redactUrl(url)}" resolves to a denied IP address (${address}; ${reason})`;

/** dns.lookup that fails with DeniedAddressError when any address it found is refused. */
function guardedLookup(url: string, refusal: AddressCheck): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, options, (error, address, family) => {
      if (error) return callback(error, address as string, family);
      const found: LookupAddress[] = Array.isArray(address) ? address : [{ address: address as string, family: family ?? 4 }];
      for (const candidate of found) {
        const reason = refusal(candidate.address);
        if (reason !== null) return callback(new DeniedAddressError(deniedMessage(url, candidate.address, reason)) as NodeJS.ErrnoException, '', 4);
      }
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
 * POSTs to an http(s) URL, refusing the addresses `refusal` names a reason for (DeniedAddressError, before anything
 * is sent), with a timeout over the whole exchange (RequestTimeoutError). Redirects are not followed. Resolves with
 * any status. Connections are kept alive for the next POST of the same instance, and only of it: a socket checked
 * against one policy is never reused under another.
 */
export function guardedPost(refusal: AddressCheck): Post {
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
        return reject(new UnsupportedUrlError(`"${redactUrl(url)}" is not a valid URL`));
      }
      const protocol = target.protocol as 'http:' | 'https:';
      if (protocol !== 'http:' && protocol !== 'https:') return reject(new UnsupportedUrlError(`"${redactUrl(url)}": only http and https URLs are allowed`));
      const host = target.hostname.replace(/^\[(.*)\]$/, '$1');
      const reason = isIP(host) !== 0 ? refusal(host) : null;
      if (reason !== null) return reject(new DeniedAddressError(deniedMessage(url, host, reason)));

      const client = protocol === 'https:' ? https : http;
      const req = client.request(target, {
        method: 'POST',
        headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
        agent: agents[protocol],
        lookup: guardedLookup(url, refusal),
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

/** One guardedPost per address policy, kept for the process, so Flow runs share its kept-alive connections. */
export function guardedPostFor(options: WebhookAddressOptions): Post {
  const key = JSON.stringify([options.importDenyList, options.allowList]);
  let post = posts.get(key);
  if (!post) posts.set(key, (post = guardedPost(webhookAddressPolicy(options))));
  return post;
}
