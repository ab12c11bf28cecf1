import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ipDenyChecker, webhookAddressPolicy, type AddressCheck } from '../../../extensions/pitwall/src/shared/address-policy.ts';
import { DeniedAddressError, guardedPost, UnsupportedUrlError } from '../../../extensions/pitwall/src/shared/guarded-post.ts';

/** Refuses what IMPORT_IP_DENY_LIST alone denies, as the checks of these tests used to. */
const denying = (list: string[]): AddressCheck => {
  const denied = ipDenyChecker(list);
  return (ip) => (denied(ip) ? 'see IMPORT_IP_DENY_LIST' : null);
};

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
    const post = guardedPost(denying(['169.254.169.254']));
    expect(await post(`http://127.0.0.1:${port}/ok`, request)).toEqual({ status: 200, text: 'ok' });
    expect(await post(`http://localhost:${port}/fail`, request)).toEqual({ status: 503, text: 'busy' });
    expect(bodies.at(-1)).toBe('{"id":"e1"}');
  });

  it('refuses a denied IP literal before sending anything', async () => {
    const post = guardedPost(denying(['169.254.169.254', '127.0.0.0/8']));
    const before = bodies.length;
    await expect(post('http://169.254.169.254/latest/meta-data', request)).rejects.toThrow(DeniedAddressError);
    await expect(post(`http://127.0.0.1:${port}/ok`, request)).rejects.toThrow(/resolves to a denied IP address \(127\.0\.0\.1; see IMPORT_IP_DENY_LIST\)/);
    await expect(post(`http://[::ffff:127.0.0.1]:${port}/ok`, request)).rejects.toThrow(DeniedAddressError);
    expect(bodies.length).toBe(before);
  });

  it('refuses a host name that resolves to a denied address (checked after DNS)', async () => {
    const post = guardedPost(denying(['0.0.0.0']));
    const before = bodies.length;
    await expect(post(`http://localhost:${port}/ok`, request)).rejects.toThrow(DeniedAddressError);
    expect(bodies.length).toBe(before);
  });

  it('refuses loopback by default, by address or by a name that resolves to it, and lets the allow list through', async () => {
    const before = bodies.length;
    const strict = guardedPost(webhookAddressPolicy({ importDenyList: ['169.254.169.254'], allowList: [] }));
    await expect(strict(`http://127.0.0.1:${port}/ok`, request)).rejects.toThrow(/denied IP address \(127\.0\.0\.1; loopback, refused unless PITWALL_WEBHOOK_ALLOW_LIST allows it\)/);
    await expect(strict(`http://localhost:${port}/ok`, request)).rejects.toThrow(DeniedAddressError);
    await expect(strict('http://10.0.0.1/hook', request)).rejects.toThrow(/\(10\.0\.0\.1; private network \(RFC 1918\)/);
    await expect(strict('http://[fd00::1]/hook', request)).rejects.toThrow(/\(fd00::1; unique-local IPv6/);
    expect(bodies.length).toBe(before);
    const allowing = guardedPost(webhookAddressPolicy({ importDenyList: ['169.254.169.254'], allowList: ['127.0.0.1'] }));
    expect(await allowing(`http://localhost:${port}/ok`, request)).toEqual({ status: 200, text: 'ok' });
    expect(bodies.length).toBe(before + 1);
  });

  it('names a refused URL without its credentials', async () => {
    const strict = guardedPost(webhookAddressPolicy({ importDenyList: [], allowList: [] }));
    const error = await strict('http://alice:hunter2@10.1.2.3/hook?token=abc123&page=2#frag', request).catch((e: Error) => e);
    expect(error).toBeInstanceOf(DeniedAddressError);
    expect((error as Error).message).toBe(
      'Requested URL "http://***@10.1.2.3/hook?token=***&page=2" resolves to a denied IP address (10.1.2.3; private network (RFC 1918), refused unless PITWALL_WEBHOOK_ALLOW_LIST allows it)',
    );
    const scheme = await strict('ftp://bob:secret99@example.com/x?key=k1', request).catch((e: Error) => e);
    expect((scheme as Error).message).not.toMatch(/secret99|k1/);
  });

  it('refuses other schemes and times out slow answers', async () => {
    const post = guardedPost(denying([]));
    await expect(post('file:///etc/passwd', request)).rejects.toThrow(UnsupportedUrlError);
    await expect(post('not a url', request)).rejects.toThrow(UnsupportedUrlError);
    await expect(post(`http://127.0.0.1:${port}/slow`, { ...request, timeoutMs: 200 })).rejects.toMatchObject({ name: 'TimeoutError', message: 'timed out after 200 ms' });
  });
});
