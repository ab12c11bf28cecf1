import { describe, expect, it } from 'vitest';
import {
  addressListFrom,
  classifyAddress,
  denyListFrom,
  DIRECTUS_DEFAULT_DENY_LIST,
  ipDenyChecker,
  webhookAddressPolicy,
} from '../../../extensions/pitwall/src/shared/address-policy.ts';

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

describe('classifyAddress', () => {
  const label = (ip: string) => classifyAddress(ip)?.label ?? 'public';

  it('names the IPv4 ranges a webhook must not reach by default', () => {
    expect(label('127.0.0.1')).toBe('loopback');
    expect(label('127.255.0.9')).toBe('loopback');
    for (const ip of ['10.0.0.1', '172.16.0.1', '172.31.255.254', '192.168.1.1']) expect(label(ip), ip).toBe('private network (RFC 1918)');
    expect(label('169.254.10.20')).toBe('link-local');
    expect(label('100.64.0.1')).toBe('carrier-grade NAT (RFC 6598)');
    expect(label('100.127.255.255')).toBe('carrier-grade NAT (RFC 6598)');
    expect(label('224.0.0.1')).toBe('multicast');
    expect(label('255.255.255.255')).toBe('reserved (240.0.0.0/4)');
  });

  it('names the cloud metadata services and the unspecified address before their wider ranges', () => {
    for (const ip of ['169.254.169.254', '169.254.170.2', '100.100.100.200', 'fd00:ec2::254']) expect(label(ip), ip).toBe('cloud metadata service');
    for (const ip of ['0.0.0.0', '0.1.2.3', '::']) expect(label(ip), ip).toBe('unspecified address (this host)');
    expect(classifyAddress('169.254.169.254')?.fixed).toBe(true);
    expect(classifyAddress('169.254.10.20')?.fixed).toBe(false);
  });

  it('names the IPv6 ranges: loopback, link-local, unique-local, site-local, multicast', () => {
    expect(label('::1')).toBe('loopback');
    expect(label('fe80::1')).toBe('link-local');
    expect(label('febf::1')).toBe('link-local');
    expect(label('fc00::1')).toBe('unique-local IPv6 (RFC 4193)');
    expect(label('fd00::1')).toBe('unique-local IPv6 (RFC 4193)');
    expect(label('fec0::1')).toBe('site-local IPv6 (deprecated)');
    expect(label('ff02::1')).toBe('multicast');
  });

  it('sees IPv4 addresses written as IPv4-mapped, NAT64 and 6to4 IPv6', () => {
    expect(label('::ffff:127.0.0.1')).toBe('loopback');
    expect(label('::ffff:a9fe:a9fe')).toBe('cloud metadata service');
    expect(label('::ffff:10.1.2.3')).toBe('private network (RFC 1918)');
    expect(label('64:ff9b::10.1.2.3')).toBe('private network (RFC 1918)');
    expect(label('64:ff9b::a9fe:a9fe')).toBe('cloud metadata service');
    expect(label('2002:c0a8:0101::1')).toBe('private network (RFC 1918)');
    expect(label('2002:7f00:1::')).toBe('loopback');
    expect(label('::ffff:0.0.0.0')).toBe('unspecified address (this host)');
  });

  it('leaves public addresses, and embeddings of public addresses, alone', () => {
    for (const ip of ['93.184.216.34', '8.8.8.8', '172.32.0.1', '100.128.0.1', '2606:4700::1111', '::ffff:8.8.8.8', '64:ff9b::808:808', '2002:808:808::1']) {
      expect(classifyAddress(ip), ip).toBeNull();
    }
    expect(classifyAddress('not-an-ip')).toBeNull();
  });
});

describe('webhookAddressPolicy', () => {
  const policy = (allowList: string[], importDenyList: string[] = []) => webhookAddressPolicy({ importDenyList, allowList });

  it('refuses every special-purpose address by default and says how to allow one', () => {
    const check = policy([]);
    expect(check('10.0.0.1')).toBe('private network (RFC 1918), refused unless PITWALL_WEBHOOK_ALLOW_LIST allows it');
    expect(check('fd00::1')).toBe('unique-local IPv6 (RFC 4193), refused unless PITWALL_WEBHOOK_ALLOW_LIST allows it');
    expect(check('127.0.0.1')).toMatch(/^loopback, /);
    expect(check('100.64.1.1')).toMatch(/^carrier-grade NAT/);
    expect(check('93.184.216.34')).toBeNull();
  });

  it('lets the allow list through, by address, subnet or range, IPv4-mapped forms included', () => {
    const check = policy(['10.20.0.0/16', '192.168.1.10-192.168.1.20', 'fd12::7', '127.0.0.1']);
    expect(check('10.20.3.4')).toBeNull();
    expect(check('::ffff:10.20.3.4')).toBeNull();
    expect(check('10.21.0.1')).toMatch(/^private network/);
    expect(check('192.168.1.15')).toBeNull();
    expect(check('192.168.1.21')).toMatch(/^private network/);
    expect(check('fd12::7')).toBeNull();
    expect(check('fd12::8')).toMatch(/^unique-local/);
    expect(check('127.0.0.1')).toBeNull();
    expect(check('127.0.0.2')).toMatch(/^loopback/);
  });

  it('never lets the allow list open a cloud metadata service or the unspecified address', () => {
    const check = policy(['169.254.0.0/16', '0.0.0.0/0', '::/0']);
    expect(check('169.254.10.20')).toBeNull();
    expect(check('169.254.169.254')).toBe('cloud metadata service, always refused');
    expect(check('fd00:ec2::254')).toBe('cloud metadata service, always refused');
    expect(check('0.0.0.0')).toBe('unspecified address (this host), always refused');
    expect(check('::')).toBe('unspecified address (this host), always refused');
  });

  it('lets IMPORT_IP_DENY_LIST win over the allow list, with Directus\'s wording', () => {
    const check = policy(['10.0.0.0/8', '203.0.113.7'], ['10.9.9.9', '203.0.113.0/24']);
    expect(check('10.9.9.9')).toBe('see IMPORT_IP_DENY_LIST');
    expect(check('203.0.113.7')).toBe('see IMPORT_IP_DENY_LIST');
    expect(check('10.9.9.8')).toBeNull();
  });

  it('allows nothing more when the allow list cannot be read, and says why', () => {
    const check = policy(['10.0.0.0/33']);
    expect(check('10.0.0.1')).toBe('private network (RFC 1918), refused unless PITWALL_WEBHOOK_ALLOW_LIST allows it (PITWALL_WEBHOOK_ALLOW_LIST cannot be read: invalid subnet "10.0.0.0/33")');
    expect(check('93.184.216.34')).toBeNull();
  });

  it('reads the allow list as Directus hands env over: an array, a single value or a comma-separated string', () => {
    expect(addressListFrom(['10.0.0.5', ' fd00::/8 '])).toEqual(['10.0.0.5', 'fd00::/8']);
    expect(addressListFrom('10.0.0.5,10.1.0.0/16')).toEqual(['10.0.0.5', '10.1.0.0/16']);
    expect(addressListFrom(undefined)).toEqual([]);
    expect(addressListFrom('')).toEqual([]);
  });
});
