import { BlockList, isIP } from 'node:net';
import { networkInterfaces } from 'node:os';

/**
 * Which addresses a signed webhook may connect to. Directus refuses only what `IMPORT_IP_DENY_LIST` names (by
 * default this machine and 169.254.169.254); an integrator's URL is typed by an admin and can point anywhere, so
 * Pitwall also refuses, by default, every address that is not on the public internet: loopback, private (RFC 1918),
 * link-local, carrier-grade NAT, unique-local IPv6, multicast and reserved, cloud metadata services and the
 * unspecified address, each also written as IPv4-mapped, NAT64 or 6to4 IPv6. An admin lets a receiver on an
 * internal network through with `PITWALL_WEBHOOK_ALLOW_LIST`; nothing lets a webhook reach what Directus's own list
 * denies, a cloud metadata service or the unspecified address.
 *
 * Kept free of Directus and of relative imports, so it is unit-tested from the root project as it is.
 */

/** Directus's default for IMPORT_IP_DENY_LIST. */
export const DIRECTUS_DEFAULT_DENY_LIST = ['0.0.0.0', '169.254.169.254'];

/** The variable that lets webhooks reach receivers on an internal network. */
export const ALLOW_LIST_VARIABLE = 'PITWALL_WEBHOOK_ALLOW_LIST';

/** Why an address is refused, for the delivery's error; null when it may be connected to. */
export type AddressCheck = (ip: string) => string | null;

/** Directus hands env lists over as arrays (or a single value); a raw comma-separated string is accepted too. */
export function addressListFrom(value: unknown, fallback: readonly string[] = []): string[] {
  if (value === undefined || value === null) return [...fallback];
  const items = Array.isArray(value) ? value.map(String) : String(value).split(',');
  return items.map((item) => item.trim()).filter((item) => item !== '');
}

/** IMPORT_IP_DENY_LIST as Directus reads it: absent means its default. */
export const denyListFrom = (value: unknown): string[] => addressListFrom(value, DIRECTUS_DEFAULT_DENY_LIST);

const familyOf = (ip: string): 'ipv4' | 'ipv6' => (isIP(ip) === 6 ? 'ipv6' : 'ipv4');

/**
 * A BlockList of addresses, CIDR subnets (`10.0.0.0/8`) and ranges (`10.0.0.1-10.0.0.9`). With `thisMachine`,
 * `0.0.0.0` stands for this machine's interfaces (loopback subnets included) and the unspecified addresses, as in
 * Directus's IMPORT_IP_DENY_LIST. Throws on an item it cannot read, naming it.
 */
function addressList(list: readonly string[], { thisMachine }: { thisMachine: boolean }): BlockList {
  const blocked = new BlockList();
  for (const item of list) {
    if (thisMachine && item === '0.0.0.0') {
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
      if (!from || !to || !isIP(from) || isIP(from) !== isIP(to)) throw new Error(`invalid range "${item}"`);
      blocked.addRange(from, to, familyOf(from));
    } else if (item.includes('/')) {
      const [network, prefix] = item.split('/');
      const bits = Number(prefix);
      if (!network || !isIP(network) || !/^\d+$/.test(prefix ?? '') || bits > (isIP(network) === 4 ? 32 : 128)) throw new Error(`invalid subnet "${item}"`);
      blocked.addSubnet(network, bits, familyOf(network));
    } else {
      if (!isIP(item)) throw new Error(`invalid address "${item}"`);
      blocked.addAddress(item, familyOf(item));
    }
  }
  return blocked;
}

/**
 * A predicate "is this IP denied?" for IMPORT_IP_DENY_LIST, as Directus reads it: `0.0.0.0` denies this machine's own
 * interfaces and, beyond Directus, the unspecified addresses `0.0.0.0` and `::`, which reach this machine too. A
 * list that cannot be read denies everything, as in Directus. IPv4-mapped IPv6 addresses match their IPv4 rules.
 */
export function ipDenyChecker(list: readonly string[]): (ip: string) => boolean {
  if (list.length === 0) return () => false;
  let blocked: BlockList;
  try {
    blocked = addressList(list, { thisMachine: true });
  } catch {
    return () => true;
  }
  return (ip: string) => blocked.check(ip, familyOf(ip));
}

/** A special-purpose range: refused by default, and `fixed` ones even when the allow list names them. */
interface SpecialRange {
  label: string;
  fixed: boolean;
  ipv4: string[];
  ipv6: string[];
}

/** Checked in this order, so an address gets its most telling name (the metadata service before link-local). */
export const SPECIAL_RANGES: readonly SpecialRange[] = [
  { label: 'unspecified address (this host)', fixed: true, ipv4: ['0.0.0.0/8'], ipv6: ['::/128'] },
  // AWS, Azure, GCP, Oracle (169.254.169.254), AWS ECS task metadata, Alibaba Cloud, AWS over IPv6.
  { label: 'cloud metadata service', fixed: true, ipv4: ['169.254.169.254/32', '169.254.170.2/32', '100.100.100.200/32'], ipv6: ['fd00:ec2::254/128'] },
  { label: 'loopback', fixed: false, ipv4: ['127.0.0.0/8'], ipv6: ['::1/128'] },
  { label: 'private network (RFC 1918)', fixed: false, ipv4: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16'], ipv6: [] },
  { label: 'link-local', fixed: false, ipv4: ['169.254.0.0/16'], ipv6: ['fe80::/10'] },
  { label: 'carrier-grade NAT (RFC 6598)', fixed: false, ipv4: ['100.64.0.0/10'], ipv6: [] },
  { label: 'unique-local IPv6 (RFC 4193)', fixed: false, ipv4: [], ipv6: ['fc00::/7'] },
  { label: 'site-local IPv6 (deprecated)', fixed: false, ipv4: [], ipv6: ['fec0::/10'] },
  { label: 'multicast', fixed: false, ipv4: ['224.0.0.0/4'], ipv6: ['ff00::/8'] },
  { label: 'reserved (240.0.0.0/4)', fixed: false, ipv4: ['240.0.0.0/4'], ipv6: [] },
];

/**
 * An IPv4 subnet as the IPv6 prefixes that carry it: NAT64 (64:ff9b::/96, RFC 6052) and 6to4 (2002::/16). The
 * IPv4-mapped form (::ffff:0:0/96) needs none: BlockList matches it against IPv4 rules itself.
 */
function embeddedInIpv6(cidr: string): [string, number][] {
  const [network, prefix] = cidr.split('/');
  const bits = Number(prefix);
  const [a, b, c, d] = network!.split('.').map(Number) as [number, number, number, number];
  const hex = (high: number, low: number) => ((high << 8) | low).toString(16);
  return [
    [`64:ff9b::${network}`, 96 + bits],
    [`2002:${hex(a, b)}:${hex(c, d)}::`, 16 + bits],
  ];
}

const rangeLists = SPECIAL_RANGES.map((range) => {
  const list = new BlockList();
  for (const cidr of range.ipv4) {
    const [network, prefix] = cidr.split('/');
    list.addSubnet(network!, Number(prefix), 'ipv4');
    for (const [v6, bits] of embeddedInIpv6(cidr)) list.addSubnet(v6, bits, 'ipv6');
  }
  for (const cidr of range.ipv6) {
    const [network, prefix] = cidr.split('/');
    list.addSubnet(network!, Number(prefix), 'ipv6');
  }
  return { range, list };
});

/** The special-purpose range an IP address lies in, or null for an address on the public internet. */
export function classifyAddress(ip: string): { label: string; fixed: boolean } | null {
  if (isIP(ip) === 0) return null;
  const found = rangeLists.find(({ list }) => list.check(ip, familyOf(ip)));
  return found ? { label: found.range.label, fixed: found.range.fixed } : null;
}

export interface WebhookAddressOptions {
  /** Directus's IMPORT_IP_DENY_LIST (already defaulted): always wins. */
  importDenyList: readonly string[];
  /** PITWALL_WEBHOOK_ALLOW_LIST: addresses, subnets and ranges a receiver may be at despite their range. */
  allowList: readonly string[];
}

/**
 * The check a webhook's connection must pass, in this order: Directus's IMPORT_IP_DENY_LIST refuses; a cloud metadata
 * service or the unspecified address is refused; an address on the allow list is allowed; any other special-purpose
 * address is refused; a public address is allowed. An allow list that cannot be read allows nothing, and says so.
 */
export function webhookAddressPolicy({ importDenyList, allowList }: WebhookAddressOptions): AddressCheck {
  const deniedByDirectus = ipDenyChecker(importDenyList);
  let allowed: (ip: string) => boolean = () => false;
  let allowProblem = '';
  try {
    const list = addressList(allowList, { thisMachine: false });
    allowed = (ip) => list.check(ip, familyOf(ip));
  } catch (error) {
    allowProblem = ` (${ALLOW_LIST_VARIABLE} cannot be read: ${(error as Error).message})`;
  }
  return (ip) => {
    if (deniedByDirectus(ip)) return 'see IMPORT_IP_DENY_LIST';
    const special = classifyAddress(ip);
    if (!special) return null;
    if (special.fixed) return `${special.label}, always refused`;
    if (allowed(ip)) return null;
    return `${special.label}, refused unless ${ALLOW_LIST_VARIABLE} allows it${allowProblem}`;
  };
}
