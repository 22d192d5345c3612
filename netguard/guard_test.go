package netguard

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"testing"
)

// These tests only decide; nothing here is dialled.

func TestCheckAddr(t *testing.T) {
	strict := New(false, nil)
	cases := []struct {
		ip     string
		ok     bool
		reason string // substring of the refusal reason
	}{
		// Loopback.
		{"127.0.0.1", false, "loopback network (127.0.0.0/8)"},
		{"127.255.255.254", false, "loopback"},
		{"::1", false, "loopback address (::1/128)"},
		{"::ffff:127.0.0.1", false, "loopback network (127.0.0.0/8)"},
		// RFC 1918.
		{"10.0.0.1", false, "private network (10.0.0.0/8)"},
		{"172.16.0.1", false, "private network (172.16.0.0/12)"},
		{"172.31.255.255", false, "private network (172.16.0.0/12)"},
		{"192.168.1.1", false, "private network (192.168.0.0/16)"},
		{"::ffff:10.0.0.1", false, "private network (10.0.0.0/8)"},
		{"::ffff:192.168.0.1", false, "private network"},
		// Link-local and metadata.
		{"169.254.1.1", false, "link-local network (169.254.0.0/16)"},
		{"169.254.169.254", false, "is the cloud metadata service address"},
		{"169.254.170.2", false, "ECS task metadata"},
		{"fd00:ec2::254", false, "AWS metadata service address (fd00:ec2::254/128)"},
		{"100.100.100.200", false, "Alibaba"},
		{"192.0.0.192", false, "Oracle"},
		{"168.63.129.16", false, "Azure"},
		{"fe80::1", false, "link-local network (fe80::/10)"},
		{"fe80::1%eth0", false, "link-local"},
		// CGNAT.
		{"100.64.0.1", false, "carrier-grade NAT range (100.64.0.0/10)"},
		{"100.127.255.254", false, "carrier-grade NAT"},
		// Unspecified, this network, broadcast, reserved.
		{"0.0.0.0", false, `"this network" range (0.0.0.0/8)`},
		{"0.1.2.3", false, "this network"},
		{"::", false, "unspecified address (::/128)"},
		{"255.255.255.255", false, "limited broadcast"},
		{"240.0.0.1", false, "reserved range (240.0.0.0/4)"},
		// Multicast.
		{"224.0.0.1", false, "multicast range (224.0.0.0/4)"},
		{"239.255.255.250", false, "multicast"},
		{"ff02::1", false, "multicast range (ff00::/8)"},
		{"ff0e::1", false, "multicast"},
		// Other special-purpose ranges.
		{"192.0.0.8", false, "IETF protocol assignments"},
		{"192.0.2.1", false, "TEST-NET-1"},
		{"192.88.99.1", false, "6to4 relay"},
		{"198.18.0.1", false, "benchmarking"},
		{"198.19.255.255", false, "benchmarking"},
		{"198.51.100.7", false, "TEST-NET-2"},
		{"203.0.113.9", false, "TEST-NET-3"},
		{"fc00::1", false, "unique local"},
		{"fd12:3456::1", false, "unique local (private) network (fc00::/7)"},
		{"fec0::1", false, "site-local"},
		{"100::1", false, "discard-only"},
		{"2001:db8::1", false, "documentation range (2001:db8::/32)"},
		{"3fff::1", false, "documentation"},
		{"2001:0:4136:e378:8000:63bf:3fff:fdd2", false, "Teredo tunnelling range (2001::/32)"},
		{"2001:2::1", false, "benchmarking"},
		{"2001:1::1", false, "IETF protocol assignments range (2001::/23)"},
		{"5f00::1", false, "SRv6"},
		{"::7f00:1", false, "IETF reserved range"},            // IPv4-compatible, deprecated
		{"4000::1", false, "outside the IPv6 global unicast"}, // unassigned
		// 6to4: judged by the embedded IPv4.
		{"2002:7f00:1::", false, "6to4 address (2002::/16) embedding 127.0.0.1, which is in the loopback network"},
		{"2002:a00:1::1", false, "embedding 10.0.0.1"},
		{"2002:a9fe:a9fe::", false, "embedding 169.254.169.254"},
		{"2002:0808:0808::", true, ""},
		// NAT64.
		{"64:ff9b::a00:1", false, "NAT64 address (64:ff9b::/96) embedding 10.0.0.1, which is in a private network"},
		{"64:ff9b::7f00:1", false, "embedding 127.0.0.1"},
		{"64:ff9b::a9fe:a9fe", false, "embedding 169.254.169.254"},
		{"64:ff9b::808:808", true, ""},
		{"64:ff9b:1::a00:1", false, "local-use NAT64"},
		{"64:ff9b:1::808:808", true, ""},
		{"64:ff9b:1:7f00:0:100::", false, "embedding 127.0.0.1"}, // /48 form
		{"64:ff9b:2::1", false, "IETF reserved range"},
		// Public: allowed (decision only, never dialled).
		{"8.8.8.8", true, ""},
		{"1.1.1.1", true, ""},
		{"::ffff:8.8.8.8", true, ""},
		{"2606:4700::1111", true, ""},
		{"2a00:1450:4001::1", true, ""},
		{"100.63.255.255", true, ""},
		{"100.128.0.0", true, ""},
		{"172.32.0.1", true, ""},
		{"192.0.1.1", true, ""},
	}
	for _, tc := range cases {
		t.Run(tc.ip, func(t *testing.T) {
			ip := netip.MustParseAddr(tc.ip)
			err := strict.CheckAddr(ip)
			if tc.ok {
				if err != nil {
					t.Fatalf("CheckAddr(%s) = %v, want nil", tc.ip, err)
				}
				return
			}
			var re *RefusedError
			if !errors.As(err, &re) {
				t.Fatalf("CheckAddr(%s) = %v, want *RefusedError", tc.ip, err)
			}
			if !strings.Contains(re.Reason, tc.reason) {
				t.Errorf("reason %q does not contain %q", re.Reason, tc.reason)
			}
			if re.Host != tc.ip {
				t.Errorf("Host = %q, want %q", re.Host, tc.ip)
			}
			// allowPrivate opens every one of them but cloud metadata.
			err = New(true, nil).CheckAddr(ip)
			if metadata := strings.Contains(re.Reason, "metadata") || strings.Contains(re.Reason, "AWS") ||
				strings.Contains(re.Reason, "Azure"); metadata != (err != nil) {
				t.Errorf("allowPrivate: CheckAddr(%s) = %v, want refused=%v", tc.ip, err, metadata)
			}
			// The nil Guard is as strict as New(false, nil).
			var nilGuard *Guard
			if nilGuard.CheckAddr(ip) == nil {
				t.Errorf("nil Guard allowed %s", tc.ip)
			}
		})
	}
}

func TestCheckAddrInvalid(t *testing.T) {
	for _, g := range []*Guard{New(false, nil), New(true, nil)} {
		err := g.CheckAddr(netip.Addr{})
		if !IsRefused(err) {
			t.Fatalf("zero Addr: got %v, want refusal", err)
		}
	}
}

func TestRefusedErrorMessage(t *testing.T) {
	err := New(false, nil).CheckAddr(netip.MustParseAddr("10.0.0.1"))
	want := "destination refused: 10.0.0.1 is in a private network (10.0.0.0/8)"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %q", err, want)
	}
	e := &RefusedError{Host: "127.1", Reason: reasonNumericIPv4}
	if got, want := e.Error(), "destination refused: 127.1: invalid host: non-canonical numeric IPv4 form"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	e = &RefusedError{Reason: "no URL"}
	if got, want := e.Error(), "destination refused: no URL"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestAllowedNetworks(t *testing.T) {
	cases := []struct {
		allowed string
		ip      string
		ok      bool
	}{
		{"10.1.0.0/16", "10.1.2.3", true},
		{"10.1.0.0/16", "::ffff:10.1.2.3", true},
		{"10.1.0.0/16", "10.2.0.1", false},
		{"10.1.0.0/16", "192.168.0.1", false},
		{"127.0.0.0/8", "127.0.0.1", true},
		{"127.0.0.0/8", "::ffff:127.0.0.1", true},
		{"127.0.0.0/8", "::1", false},
		{"127.0.0.0/8", "169.254.169.254", false},
		{"::1", "::1", true},
		{"169.254.169.254", "169.254.169.254", true},
		{"169.254.169.254", "169.254.169.253", false},
		// Cloud metadata: only an exact single address opens it.
		{"fd00::/8", "fd00:ec2::254", false},
		{"fd00::/8", "fd00:ec2::1", false},
		{"fd00::/8", "fd00:1::1", true},
		{"fd00:ec2::254", "fd00:ec2::254", true},
		{"fd00:ec2::254/128", "fd00:ec2::254", true},
		{"fd00:ec2::254", "fd00:ec2::23", false},
		{"fd00:ec2::/32", "fd00:ec2::254", false},
		{"169.254.0.0/16", "169.254.169.254", false},
		{"169.254.0.0/16", "169.254.170.2", false},
		{"169.254.0.0/16", "169.254.1.1", true},
		{"169.254.169.0/24", "169.254.169.254", false},
		{"169.254.169.254/32", "169.254.169.254", true},
		{"::ffff:169.254.169.254/128", "169.254.169.254", true},
		{"169.254.169.254", "::ffff:169.254.169.254", true}, // the same address
		{"100.64.0.0/10", "100.100.100.200", false},
		{"100.64.0.0/10", "100.64.0.1", true},
		{"100.100.100.200", "100.100.100.200", true},
		{"168.63.0.0/16", "168.63.129.16", false},
		{"192.0.0.0/24", "192.0.0.192", false},
		{"fe80::/10", "fe80::a9fe:a9fe", false},
		{"fc00::/7", "fd20:ce::254", false},
		{"0.0.0.0/0", "169.254.169.254", false},
		{"::/0", "fd00:ec2::254", false},
		{"fe80::/10", "fe80::1%eth0", true},
		{"::ffff:10.0.0.0/104", "10.9.9.9", true}, // mapped prefix stored as 10.0.0.0/8
		{"::ffff:10.0.0.0/104", "::ffff:10.9.9.9", true},
		// An IPv4 network allows IPv4 only, not its NAT64 or 6to4 spellings.
		{"10.0.0.0/8", "64:ff9b::a00:1", false},
		{"10.0.0.0/8", "2002:a00:1::", false},
		{"10.0.0.1", "64:ff9b::a00:1", false},
		{"10.0.0.1", "64:ff9b:1:a00:0:100::", false},
		{"10.0.0.0/8", "64:ff9b::7f00:1", false},
		// ... unless the IPv6 prefix itself is allowed; metadata stays out.
		{"64:ff9b::/96", "64:ff9b::a00:1", true},
		{"2002::/16", "2002:a00:1::", true},
		{"2002::/16", "2002:a9fe:a9fe::", false},
		{"64:ff9b::/96", "64:ff9b::a9fe:a9fe", false},
		{"169.254.169.254", "64:ff9b::a9fe:a9fe", false},
		{"192.168.0.0/16, 10.0.0.0/8", "10.0.0.1", true},
	}
	for _, tc := range cases {
		t.Run(tc.allowed+"/"+tc.ip, func(t *testing.T) {
			nets, err := ParseNetworks(tc.allowed)
			if err != nil {
				t.Fatal(err)
			}
			err = New(false, nets).CheckAddr(netip.MustParseAddr(tc.ip))
			if (err == nil) != tc.ok {
				t.Fatalf("CheckAddr(%s) with %s = %v, want ok=%v", tc.ip, tc.allowed, err, tc.ok)
			}
		})
	}
}

// TestMetadataAlwaysRefused: every cloud metadata address (the list in
// docs/security.md) is refused by the strict guard, with
// WEBHOOK_ALLOW_PRIVATE, and with every network allowed, in every spelling;
// allowing the single address opens it and nothing else.
func TestMetadataAlwaysRefused(t *testing.T) {
	everything, err := ParseNetworks("0.0.0.0/0, ::/0")
	if err != nil {
		t.Fatal(err)
	}
	addrs := []string{"169.254.169.254", "169.254.170.2", "169.254.170.23", "169.254.169.252", "169.254.0.23",
		"169.254.42.42", "100.100.100.200", "192.0.0.192", "168.63.129.16",
		"fd00:ec2::254", "fd00:ec2::23", "fd20:ce::254", "fd00:a9fe:a9fe::1", "fd00:c1::a9fe:a9fe", "fd00:42::42",
		"fe80::a9fe:a9fe"}
	if len(addrs) != len(metadataRanges)-1 { // fd00:ec2::/32 is a range, not an address
		t.Fatalf("%d addresses tested, %d metadata entries: keep this list and docs/security.md in step", len(addrs), len(metadataRanges))
	}
	guards := map[string]*Guard{"strict": New(false, nil), "allowPrivate": New(true, nil), "everything": New(true, everything)}
	for _, s := range addrs {
		ip := netip.MustParseAddr(s)
		spellings := []netip.Addr{ip}
		if ip.Is4() {
			b := ip.As4()
			spellings = append(spellings,
				netip.AddrFrom16(ip.As16()),                                                                   // ::ffff:a.b.c.d
				netip.AddrFrom16([16]byte{0x20, 0x02, b[0], b[1], b[2], b[3]}),                                // 6to4
				netip.AddrFrom16([16]byte{0, 0x64, 0xff, 0x9b, 12: b[0], 13: b[1], 14: b[2], 15: b[3]}),       // NAT64
				netip.AddrFrom16([16]byte{0, 0x64, 0xff, 0x9b, 0, 1, 12: b[0], 13: b[1], 14: b[2], 15: b[3]}), // local NAT64
			)
		}
		for name, g := range guards {
			for _, sp := range spellings {
				if err := g.CheckAddr(sp); err == nil {
					t.Errorf("%s guard allowed %s (%s)", name, sp, s)
				} else if !strings.Contains(err.Error(), "unless allowed as a single address") && sp == ip {
					t.Errorf("%s guard: %s refused without saying how to allow it: %v", name, s, err)
				}
			}
		}
		exact, err := ParseNetworks(s)
		if err != nil {
			t.Fatal(err)
		}
		g := New(false, exact)
		if err := g.CheckAddr(ip); err != nil {
			t.Errorf("allowed as a single address, %s is still refused: %v", s, err)
		}
		for _, sp := range spellings[1:] {
			if sp.Is4In6() {
				continue // the same address
			}
			if err := g.CheckAddr(sp); err == nil {
				t.Errorf("allowing %s opened its translated spelling %s", s, sp)
			}
		}
	}
}

func TestNewCopiesAllowed(t *testing.T) {
	nets := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), {}}
	g := New(false, nets)
	nets[0] = netip.MustParsePrefix("192.168.0.0/16")
	if err := g.CheckAddr(netip.MustParseAddr("10.0.0.1")); err != nil {
		t.Fatalf("caller's slice change affected the Guard: %v", err)
	}
	if err := g.CheckAddr(netip.MustParseAddr("192.168.0.1")); err == nil {
		t.Fatal("caller's slice change opened 192.168.0.0/16")
	}
}

func TestControl(t *testing.T) {
	strict := New(false, nil)
	cases := []struct {
		network, address string
		ok               bool
	}{
		{"tcp4", "127.0.0.1:80", false},
		{"tcp4", "10.0.0.1:443", false},
		{"tcp4", "169.254.169.254:80", false},
		{"tcp6", "[::1]:80", false},
		{"tcp6", "[::ffff:127.0.0.1]:80", false},
		{"tcp6", "[fe80::1%eth0]:80", false},
		{"tcp6", "[fd00:ec2::254]:80", false},
		{"tcp6", "[64:ff9b::a00:1]:80", false},
		{"tcp4", "8.8.8.8:443", true},
		{"tcp6", "[2606:4700::1111]:443", true},
		{"tcp6", "[64:ff9b::808:808]:443", true},
		// Not a literal ip:port.
		{"tcp", "example.com:80", false},
		{"tcp", "127.0.0.1", false},
		{"tcp", "", false},
		{"unix", "/var/run/docker.sock", false},
	}
	for _, tc := range cases {
		err := strict.Control(tc.network, tc.address, nil)
		if tc.ok && err != nil {
			t.Errorf("Control(%q, %q) = %v, want nil", tc.network, tc.address, err)
		}
		if !tc.ok && !IsRefused(err) {
			t.Errorf("Control(%q, %q) = %v, want refusal", tc.network, tc.address, err)
		}
	}
	if err := New(true, nil).Control("tcp4", "10.0.0.1:443", nil); err != nil {
		t.Errorf("allowPrivate: %v", err)
	}
}

func TestIsRefusedWrapped(t *testing.T) {
	re := &RefusedError{Host: "10.0.0.1", Reason: "is in a private network (10.0.0.0/8)"}
	op := &net.OpError{Op: "dial", Net: "tcp", Err: re}
	ue := &url.Error{Op: "Post", URL: "http://x/", Err: op}
	for _, err := range []error{re, op, ue, fmt.Errorf("send: %w", ue)} {
		if !IsRefused(err) {
			t.Errorf("IsRefused(%v) = false", err)
		}
	}
	for _, err := range []error{nil, errors.New("destination refused: fake"), &net.OpError{Op: "dial", Err: errors.New("connection refused")}} {
		if IsRefused(err) {
			t.Errorf("IsRefused(%v) = true", err)
		}
	}
}

func TestParseNetworks(t *testing.T) {
	cases := []struct {
		in      string
		want    []string
		errPart string
	}{
		{"", nil, ""},
		{"   ", nil, ""},
		{"10.0.0.0/8", []string{"10.0.0.0/8"}, ""},
		{"10.0.0.0/8, 192.168.1.0/24 ,fd00::/8", []string{"10.0.0.0/8", "192.168.1.0/24", "fd00::/8"}, ""},
		{"10.0.0.0/8,,", []string{"10.0.0.0/8"}, ""},
		{"127.0.0.1", []string{"127.0.0.1/32"}, ""},
		{"::1", []string{"::1/128"}, ""},
		{"::ffff:10.0.0.0/104", []string{"::ffff:10.0.0.0/104"}, ""},
		{"10.0.0.0/8, nope", nil, `"nope"`},
		{"10.0.0.0/33", nil, `"10.0.0.0/33"`},
		{"10.1.2.3/8", nil, "did you mean 10.0.0.0/8"},
		{"10.0.0.0/8;192.168.0.0/16", nil, `"10.0.0.0/8;192.168.0.0/16"`},
		{"fe80::1%eth0", nil, "zones"},
		{"127.1", nil, `"127.1"`},
		{"0x7f000001/32", nil, `"0x7f000001/32"`},
	}
	for _, tc := range cases {
		got, err := ParseNetworks(tc.in)
		if tc.errPart != "" {
			if err == nil || !strings.Contains(err.Error(), tc.errPart) {
				t.Errorf("ParseNetworks(%q) error = %v, want one containing %s", tc.in, err, tc.errPart)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseNetworks(%q): %v", tc.in, err)
			continue
		}
		var gotS []string
		for _, p := range got {
			gotS = append(gotS, p.String())
		}
		if fmt.Sprint(gotS) != fmt.Sprint(tc.want) || (tc.want == nil) != (got == nil) {
			t.Errorf("ParseNetworks(%q) = %v, want %v", tc.in, gotS, tc.want)
		}
	}
}

// The table must stay well-formed: masked prefixes with names.
func TestBlockedRangesTable(t *testing.T) {
	for _, r := range blockedRanges {
		if !r.prefix.IsValid() || r.prefix != r.prefix.Masked() || r.name == "" {
			t.Errorf("bad entry %v %q", r.prefix, r.name)
		}
	}
}
