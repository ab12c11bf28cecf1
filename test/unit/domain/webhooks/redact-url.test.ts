import { describe, expect, it } from 'vitest';
import { redactUrl } from '../../../../src/domain/webhooks/redact-url.ts';

describe('redactUrl', () => {
  it('keeps a URL without credentials as it is', () => {
    expect(redactUrl('https://integrator.example/pitwall/hook?page=2&event=rally')).toBe('https://integrator.example/pitwall/hook?page=2&event=rally');
  });

  it('replaces the userinfo', () => {
    expect(redactUrl('https://alice:hunter2@integrator.example/hook')).toBe('https://***@integrator.example/hook');
    expect(redactUrl('https://tokenonly@integrator.example/hook')).toBe('https://***@integrator.example/hook');
  });

  it('replaces the values of credential-looking query parameters and drops the fragment', () => {
    const url = 'https://h.example/x?token=t1&api_key=k2&Secret=s3&X-Amz-Signature=g4&password=p5&access_token=a6&sig=z7&page=2#key=f8';
    const redacted = redactUrl(url);
    expect(redacted).toBe('https://h.example/x?token=***&api_key=***&Secret=***&X-Amz-Signature=***&password=***&access_token=***&sig=***&page=2');
    for (const value of ['t1', 'k2', 's3', 'g4', 'p5', 'a6', 'z7', 'f8']) expect(redacted).not.toContain(value);
  });

  it('keeps only the scheme and host of text that is not a URL', () => {
    expect(redactUrl('http://bob:pw123@[bad host/x?token=1')).toBe('http://[bad/***');
    expect(redactUrl('not a url with secret=abc')).toBe('***');
  });

  it('redacts IP literal URLs the same way', () => {
    expect(redactUrl('http://u:p@[fd00::1]:8080/h?key=v')).toBe('http://***@[fd00::1]:8080/h?key=***');
  });
});
