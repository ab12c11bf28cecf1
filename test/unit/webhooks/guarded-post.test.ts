import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DeniedAddressError,
  denyListFrom,
  DIRECTUS_DEFAULT_DENY_LIST,
  guardedPost,
  ipDenyChecker,
  UnsupportedUrlError,
} from '../../../extensions/pitwall/src/shared/guarded-post.ts';

describe('ipDenyChecker (IMPORT_IP_DENY_LIST as Directus reads it)', () => {
  it('takes Directus\'s array, a comma-separated string, or its default when absent', () => {
    expect(denyListFrom(['169.254.169.254', ' 10.0.0.0/8 '])).toEqual(['169.254.169.254', '10.0.0.0/8']);
    expect(denyListFrom('169.254.169.254, 10.0.0.0/8,')).toEqual(['169.254.169.254', '10.0.0.0/8']);
    expect(denyListFrom(undefined)).toEqual(DIRECTUS_DEFAULT_DENY_LIST);
    expect(denyListFrom([])).toEqual([]);
  });

  it('denies addresses, subnets and ranges, IPv4-mapped IPv6 included', () => {
    const denied = ipDenyChecker(['169.254.169.254', '10.0.0.0/8', '192.168.1.10-192.168.1.20', 'fd00::/8']);
    expect(denied('169.254.169.254')).toBe(true);
    expect(denied('::ffff:169.254.169.254')).toBe(true);
    expect(denied('10.200.3.4')).toBe(true);
    expect(denied('192.168.1.15')).toBe(true);
    expect(denied('192.168.1.21')).toBe(false);
    expect(denied('fd12::1')).toBe(true);
    expect(denied('93.184.216.34')).toBe(false);
    expect(denied('127.0.0.1')).toBe(false);
  });

  it('"0.0.0.0" stands for this machine: loopback, its interfaces and the unspecified addresses', () => {
    const denied = ipDenyChecker(['0.0.0.0']);
    for (const ip of ['127.0.0.1', '127.3.2.1', '::1', '0.0.0.0', '::', '::ffff:127.0.0.1']) expect(denied(ip), ip).toBe(true);
    expect(denied('93.184.216.34')).toBe(false);
  });

  it('denies everything when the list cannot be read, and nothing when it is empty', () => {
    expect(ipDenyChecker(['not-an-ip'])('93.184.216.34')).toBe(true);
    expect(ipDenyChecker(['10.0.0.0/x'])('93.184.216.34')).toBe(true);
    expect(ipDenyChecker([])('169.254.169.254')).toBe(false);
  });
});

describe('guardedPost', () => {
  let server: Server;
  let port = 0;
  const bodies: string[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk) => (body += chunk));
      req.on('end', () => {
        bodies.push(body);
        if (req.url === '/slow') return void setTimeout(() => res.writeHead(200).end('late'), 1000);
        res.writeHead(req.url === '/fail' ? 503 : 200, { 'content-type': 'text/plain' }).end(req.url === '/fail' ? 'busy' : 'ok');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const request = { headers: { 'content-type': 'application/json' }, body: '{"id":"e1"}', timeoutMs: 2000 };

  it('posts the body and answers with the status and the start of the body', async () => {
    const post = guardedPost(ipDenyChecker(['169.254.169.254']));
    expect(await post(`http://127.0.0.1:${port}/ok`, request)).toEqual({ status: 200, text: 'ok' });
    expect(await post(`http://localhost:${port}/fail`, request)).toEqual({ status: 503, text: 'busy' });
    expect(bodies.at(-1)).toBe('{"id":"e1"}');
  });

  it('refuses a denied IP literal before sending anything', async () => {
    const post = guardedPost(ipDenyChecker(['169.254.169.254', '127.0.0.0/8']));
    const before = bodies.length;
    await expect(post('http://169.254.169.254/latest/meta-data', request)).rejects.toThrow(DeniedAddressError);
    await expect(post(`http://127.0.0.1:${port}/ok`, request)).rejects.toThrow(/resolves to a denied IP address \(127\.0\.0\.1; see IMPORT_IP_DENY_LIST\)/);
    await expect(post(`http://[::ffff:127.0.0.1]:${port}/ok`, request)).rejects.toThrow(DeniedAddressError);
    expect(bodies.length).toBe(before);
  });

  it('refuses a host name that resolves to a denied address (checked after DNS)', async () => {
    const post = guardedPost(ipDenyChecker(['0.0.0.0']));
    const before = bodies.length;
    await expect(post(`http://localhost:${port}/ok`, request)).rejects.toThrow(DeniedAddressError);
    expect(bodies.length).toBe(before);
  });

  it('refuses other schemes and times out slow answers', async () => {
    const post = guardedPost(ipDenyChecker([]));
    await expect(post('file:///etc/passwd', request)).rejects.toThrow(UnsupportedUrlError);
    await expect(post('not a url', request)).rejects.toThrow(UnsupportedUrlError);
    await expect(post(`http://127.0.0.1:${port}/slow`, { ...request, timeoutMs: 200 })).rejects.toMatchObject({ name: 'TimeoutError', message: 'timed out after 200 ms' });
  });
});
