import { BlockList, isIP } from 'node:net';

/**
 * Addresses that reach the host itself or its private networks: what web_fetch and the sandbox egress
 * proxy refuse unless a host is allowed by name. A BlockList rather than string prefixes, so every
 * spelling of an address is caught: `::ffff:7f00:1` and `0:0:0:0:0:0:0:1` are loopback too (a URL
 * parser writes `[::ffff:127.0.0.1]` as the former).
 */
const privateRanges = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8], // "this network"
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // carrier-grade NAT
  ['127.0.0.0', 8],
  ['169.254.0.0', 16], // link-local, where cloud metadata services answer
  ['172.16.0.0', 12],
  ['192.168.0.0', 16],
  ['224.0.0.0', 3], // multicast and reserved
] as const) {
  privateRanges.addSubnet(network, prefix, 'ipv4');
}
for (const [network, prefix] of [
  ['::', 128], // unspecified
  ['::1', 128],
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['ff00::', 8], // multicast
] as const) {
  privateRanges.addSubnet(network, prefix, 'ipv6');
}

/** Loopback, private, link-local, unique-local, unspecified, CGNAT, multicast, and IPv4-mapped forms of them. False for a non-address. */
export function isPrivateAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  return privateRanges.check(address, family === 4 ? 'ipv4' : 'ipv6');
}
