package netguard

import "net/netip"

// blockedRange is one refused prefix with a phrase used in messages as
// "<ip> is <name> (<prefix>)", e.g. "in a private network".
type blockedRange struct {
	prefix netip.Prefix
	name   string
}

// blockedRanges is the table of refused destinations: the non-globally
// reachable entries of the IANA IPv4 and IPv6 special-purpose address
// registries, multicast and reserved space. Cloud metadata endpoints are
// in metadataRanges, consulted too (the most specific match of both tables
// names the refusal). It is computed once and never modified.
//
// Handled in code rather than here:
//   - ::ffff:0:0/96 (IPv4-mapped) is unmapped and the IPv4 address checked;
//   - 2002::/16 (6to4), 64:ff9b::/96 and 64:ff9b:1::/48 (NAT64) are judged by
//     the IPv4 address they embed;
//   - any IPv6 address outside 2000::/3 and anything that is not a global
//     unicast address per net/netip is refused as a backstop.
//
// 2001::/23 (IETF protocol assignments) is refused as a whole, including the
// few globally reachable sub-ranges (PCP/TURN anycast, AMT, AS112, ORCHIDv2,
// drone remote ID): none of them is a plausible webhook receiver. 2001::/32
// (Teredo) is inside it and named on its own.
var blockedRanges = []blockedRange{
	// IPv4.
	{netip.MustParsePrefix("0.0.0.0/8"), `in the "this network" range`},
	{netip.MustParsePrefix("10.0.0.0/8"), "in a private network"},
	{netip.MustParsePrefix("100.64.0.0/10"), "in the carrier-grade NAT range"},
	{netip.MustParsePrefix("127.0.0.0/8"), "in the loopback network"},
	{netip.MustParsePrefix("169.254.0.0/16"), "in the link-local network"},
	{netip.MustParsePrefix("172.16.0.0/12"), "in a private network"},
	{netip.MustParsePrefix("192.0.0.0/24"), "in the IETF protocol assignments range"},
	{netip.MustParsePrefix("192.0.2.0/24"), "in the TEST-NET-1 documentation range"},
	{netip.MustParsePrefix("192.88.99.0/24"), "in the deprecated 6to4 relay anycast range"},
	{netip.MustParsePrefix("192.168.0.0/16"), "in a private network"},
	{netip.MustParsePrefix("198.18.0.0/15"), "in the benchmarking range"},
	{netip.MustParsePrefix("198.51.100.0/24"), "in the TEST-NET-2 documentation range"},
	{netip.MustParsePrefix("203.0.113.0/24"), "in the TEST-NET-3 documentation range"},
	{netip.MustParsePrefix("224.0.0.0/4"), "in the multicast range"},
	{netip.MustParsePrefix("240.0.0.0/4"), "in the reserved range"},
	{netip.MustParsePrefix("255.255.255.255/32"), "the limited broadcast address"},

	// IPv6.
	{netip.MustParsePrefix("::/128"), "the unspecified address"},
	{netip.MustParsePrefix("::1/128"), "the loopback address"},
	{netip.MustParsePrefix("::/8"), "in the IETF reserved range, incl. deprecated IPv4-compatible addresses"},
	{netip.MustParsePrefix("100::/64"), "in the discard-only range"},
	{netip.MustParsePrefix("100:0:0:1::/64"), "in the dummy IPv6 prefix"},
	{netip.MustParsePrefix("2001::/23"), "in the IETF protocol assignments range"},
	{netip.MustParsePrefix("2001::/32"), "in the Teredo tunnelling range"},
	{netip.MustParsePrefix("2001:2::/48"), "in the benchmarking range"},
	{netip.MustParsePrefix("2001:db8::/32"), "in a documentation range"},
	{netip.MustParsePrefix("3fff::/20"), "in a documentation range"},
	{netip.MustParsePrefix("5f00::/16"), "in the segment routing (SRv6) SID range"},
	{netip.MustParsePrefix("fc00::/7"), "in a unique local (private) network"},
	{netip.MustParsePrefix("fe80::/10"), "in the link-local network"},
	{netip.MustParsePrefix("fec0::/10"), "in the deprecated site-local network"},
	{netip.MustParsePrefix("ff00::/8"), "in the multicast range"},
}

// metadataRanges are the cloud metadata, credential and platform endpoints
// a server in a cloud can reach: the prize of an SSRF. Unlike the ranges
// above they stay refused when WEBHOOK_ALLOW_PRIVATE or an allowed network
// covers them, unless one of them is allowed as an exact single address
// (/32 or /128). Most are inside a refused range anyway (link-local, CGNAT,
// ULA); 168.63.129.16 is public space that only Azure VMs reach.
var metadataRanges = []blockedRange{
	// IPv4.
	{netip.MustParsePrefix("169.254.169.254/32"), "the cloud metadata service address of AWS, GCP, Azure, DigitalOcean and others"},
	{netip.MustParsePrefix("169.254.170.2/32"), "the AWS ECS task metadata and credentials address"},
	{netip.MustParsePrefix("169.254.170.23/32"), "the AWS EKS Pod Identity credentials address"},
	{netip.MustParsePrefix("169.254.169.252/32"), "the GKE Workload Identity metadata server address"},
	{netip.MustParsePrefix("169.254.0.23/32"), "the Tencent Cloud metadata service address"},
	{netip.MustParsePrefix("169.254.42.42/32"), "the Scaleway metadata service address"},
	{netip.MustParsePrefix("100.100.100.200/32"), "the Alibaba Cloud metadata service address"},
	{netip.MustParsePrefix("192.0.0.192/32"), "the Oracle Cloud metadata service address"},
	// Public address space, but only meaningful from inside Azure, where it
	// serves VM certificates and configuration (the "wireserver").
	{netip.MustParsePrefix("168.63.129.16/32"), "the Azure platform (wireserver) address"},

	// IPv6 (inside fc00::/7 or fe80::/10, named for clarity).
	{netip.MustParsePrefix("fd00:ec2::/32"), "in the AWS internal service network (metadata, credentials, DNS, time)"},
	{netip.MustParsePrefix("fd00:ec2::254/128"), "the AWS metadata service address"},
	{netip.MustParsePrefix("fd00:ec2::23/128"), "the AWS EKS Pod Identity credentials address"},
	{netip.MustParsePrefix("fd20:ce::254/128"), "the GCP metadata service address"},
	{netip.MustParsePrefix("fd00:a9fe:a9fe::1/128"), "the Linode (Akamai) metadata service address"},
	{netip.MustParsePrefix("fd00:c1::a9fe:a9fe/128"), "the Oracle Cloud metadata service address"},
	{netip.MustParsePrefix("fd00:42::42/128"), "the Scaleway metadata service address"},
	{netip.MustParsePrefix("fe80::a9fe:a9fe/128"), "the OpenStack metadata service address"},
}

// lookupMetadata returns the most specific metadata range containing ip,
// which must be unmapped and zone-free.
func lookupMetadata(ip netip.Addr) (blockedRange, bool) {
	return mostSpecific(metadataRanges, ip)
}

// Prefixes whose IPv4 address is embedded in the IPv6 address and judged
// instead of the IPv6 address itself.
var (
	sixToFour   = netip.MustParsePrefix("2002::/16")
	nat64WKP    = netip.MustParsePrefix("64:ff9b::/96")
	nat64Local  = netip.MustParsePrefix("64:ff9b:1::/48")
	ipv6Unicast = netip.MustParsePrefix("2000::/3")
)

// lookupBlocked returns the range that refuses ip, which must be unmapped and
// zone-free: a metadata range first, else the most specific blocked range.
func lookupBlocked(ip netip.Addr) (blockedRange, bool) {
	if r, ok := lookupMetadata(ip); ok {
		return r, true
	}
	return mostSpecific(blockedRanges, ip)
}

// mostSpecific returns the longest prefix of table containing ip.
func mostSpecific(table []blockedRange, ip netip.Addr) (blockedRange, bool) {
	var best blockedRange
	found := false
	for _, r := range table {
		if r.prefix.Contains(ip) && (!found || r.prefix.Bits() > best.prefix.Bits()) {
			best, found = r, true
		}
	}
	return best, found
}

// embeddedIPv4 returns the IPv4 addresses carried by a 6to4 or NAT64 address
// (RFC 3056, RFC 6052) and a description of the embedding; all of them must
// be acceptable for the IPv6 address to be.
//
// The local-use NAT64 prefix 64:ff9b:1::/48 may be deployed with any RFC 6052
// prefix length from /48 to /96, and the guard cannot know which, so every
// interpretation consistent with the address (u-octet and suffix zero) is
// returned. The /96 form (IPv4 in the last 32 bits) is always one of them.
func embeddedIPv4(ip netip.Addr) (kind string, v4s []netip.Addr) {
	if !ip.Is6() {
		return "", nil
	}
	b := ip.As16()
	switch {
	case sixToFour.Contains(ip):
		return "a 6to4 address (2002::/16)", []netip.Addr{netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]})}
	case nat64WKP.Contains(ip):
		return "a NAT64 address (64:ff9b::/96)", []netip.Addr{netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})}
	case nat64Local.Contains(ip):
		zero := func(from int) bool {
			for _, x := range b[from:] {
				if x != 0 {
					return false
				}
			}
			return true
		}
		// RFC 6052 section 2.2: bits 64-71 (byte 8) are the zero u-octet
		// for prefixes shorter than /96.
		var v4s []netip.Addr
		if b[8] == 0 && zero(11) {
			v4s = append(v4s, netip.AddrFrom4([4]byte{b[6], b[7], b[9], b[10]})) // /48
		}
		if b[8] == 0 && zero(12) {
			v4s = append(v4s, netip.AddrFrom4([4]byte{b[7], b[9], b[10], b[11]})) // /56
		}
		if b[8] == 0 && zero(13) {
			v4s = append(v4s, netip.AddrFrom4([4]byte{b[9], b[10], b[11], b[12]})) // /64
		}
		v4s = append(v4s, netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})) // /96
		return "a local-use NAT64 address (64:ff9b:1::/48)", v4s
	}
	return "", nil
}
