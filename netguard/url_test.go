package netguard

import (
	"net/url"
	"strings"
	"testing"
)

// These tests only decide; nothing here is resolved or dialled.

func TestCheckURL(t *testing.T) {
	strict := New(false, nil)
	cases := []struct {
		raw    string
		ok     bool
		reason string // substring of the refusal reason
	}{
		// Schemes.
		{"ftp://example.com/x", false, `unsupported URL scheme "ftp"`},
		{"file:///etc/passwd", false, `unsupported URL scheme "file"`},
		{"javascript:alert(1)", false, `unsupported URL scheme "javascript"`},
		{"gopher://127.0.0.1:6379/_x", false, "unsupported URL scheme"},
		{"/relative/path", false, `unsupported URL scheme ""`},
		{"//example.com/x", false, `unsupported URL scheme ""`},
		{"HTTPS://example.com/hook", true, ""},
		{"Http://example.com/hook", true, ""},
		{"https://example.com/hook", true, ""},
		{"http://example.com/", true, ""},
		{"http://example.com./", true, ""}, // trailing dot
		{"http://example.com:8080/", true, ""},
		{"http://localhost:8080/", true, ""}, // a hostname: refused at dial time
		{"http://0x7f.example.com/", true, ""},
		{"http://127.0.0.1.nip.io/", true, ""},
		{"https://user:pass@example.com/", true, ""}, // userinfo allowed
		{"https://bücher.example/", true, ""},
		// Missing host / bad port.
		{"http:///path", false, "no host"},
		{"http:example.com", false, "no host"},
		{"http://:80/", false, "no host"},
		{"http://example.com:0/", false, "invalid port"},
		{"http://example.com:65536/", false, "invalid port"},
		{"http://a..b/", false, "empty label"},
		{"http://.example.com/", false, "empty label"},
		// Legacy numeric IPv4 forms.
		{"http://127.1/", false, reasonNumericIPv4},
		{"http://0x7f000001/", false, reasonNumericIPv4},
		{"http://0X7F000001/", false, reasonNumericIPv4},
		{"http://2130706433/", false, reasonNumericIPv4},
		{"http://017700000001/", false, reasonNumericIPv4},
		{"http://0177.0.0.1/", false, reasonNumericIPv4},
		{"http://0x7f.0.0.1/", false, reasonNumericIPv4},
		{"http://127.0.0.0x1/", false, reasonNumericIPv4},
		{"http://127.0.1/", false, reasonNumericIPv4},
		{"http://10.1/", false, reasonNumericIPv4},
		{"http://0/", false, reasonNumericIPv4},
		{"http://0x/", false, reasonNumericIPv4},
		{"http://1.2.3.4.5/", false, reasonNumericIPv4},
		{"http://256.0.0.1/", false, reasonNumericIPv4},
		{"http://8.8.8.8./", false, reasonNumericIPv4},
		{"http://127.0.0.1./", false, reasonNumericIPv4},
		{"http://foo.127/", false, reasonNumericIPv4},
		{"http://１２７.１/", false, reasonNumericIPv4},     // fullwidth, IDNA maps to 127.1
		{"http://１２７．０．０．１/", false, reasonNumericIPv4}, // fullwidth 127.0.0.1
		{"http://127。0。0。1/", false, reasonNumericIPv4}, // ideographic full stops
		{"http://𝟏𝟐𝟕.𝟏/", false, reasonNumericIPv4},     // mathematical bold digits
		// Canonical IPv4 literals: checked with CheckAddr.
		{"http://127.0.0.1/", false, "loopback"},
		{"http://127.0.0.1:8080/hook", false, "loopback"},
		{"http://10.0.0.1/", false, "private network (10.0.0.0/8)"},
		{"http://169.254.169.254/latest/meta-data/", false, "cloud metadata"},
		{"http://100.100.100.200/", false, "Alibaba"},
		{"http://0.0.0.0/", false, "this network"},
		{"https://8.8.8.8/", true, ""},
		// IPv6 literals.
		{"http://[::1]:8080/", false, "loopback"},
		{"http://[::]/", false, "unspecified"},
		{"http://[::ffff:127.0.0.1]/", false, "loopback"},
		{"http://[::ffff:10.0.0.1]/", false, "private network"},
		{"http://[::ffff:7f00:1]/", false, "loopback"},
		{"http://[fd00:ec2::254]/", false, "metadata"},
		{"http://[fe80::1%25eth0]/", false, "zone"},
		{"http://[2002:7f00:1::]/", false, "6to4"},
		{"http://[64:ff9b::a00:1]/", false, "NAT64"},
		{"https://[2606:4700::1111]/", true, ""},
		{"https://[2606:4700::1111]:8443/x", true, ""},
	}
	for _, tc := range cases {
		t.Run(tc.raw, func(t *testing.T) {
			u, err := url.Parse(tc.raw)
			if err != nil {
				t.Fatalf("url.Parse: %v", err)
			}
			err = strict.CheckURL(u)
			if tc.ok {
				if err != nil {
					t.Fatalf("CheckURL(%s) = %v, want nil", tc.raw, err)
				}
				return
			}
			re, isRe := err.(*RefusedError)
			if !isRe {
				t.Fatalf("CheckURL(%s) = %v (%T), want *RefusedError", tc.raw, err, err)
			}
			if !strings.Contains(re.Reason, tc.reason) {
				t.Fatalf("CheckURL(%s) reason %q, want it to contain %q", tc.raw, re.Reason, tc.reason)
			}
		})
	}
}

// allowPrivate opens addresses, never bad schemes, legacy numeric hosts or
// cloud metadata.
func TestCheckURLAllowPrivate(t *testing.T) {
	open := New(true, nil)
	for _, raw := range []string{"http://127.0.0.1/", "http://[::1]:8080/", "http://10.0.0.1/", "http://169.254.1.1/"} {
		u, _ := url.Parse(raw)
		if err := open.CheckURL(u); err != nil {
			t.Errorf("allowPrivate: CheckURL(%s) = %v", raw, err)
		}
	}
	for _, raw := range []string{"ftp://127.0.0.1/", "http://127.1/", "http://2130706433/", "http://[fe80::1%25eth0]/",
		"http://169.254.169.254/", "http://[fd00:ec2::254]/", "http://100.100.100.200/"} {
		u, _ := url.Parse(raw)
		if err := open.CheckURL(u); !IsRefused(err) {
			t.Errorf("allowPrivate: CheckURL(%s) = %v, want refusal", raw, err)
		}
	}
	nets, err := ParseNetworks("127.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse("http://127.0.0.1:8080/")
	if err := New(false, nets).CheckURL(u); err != nil {
		t.Errorf("allowed 127.0.0.0/8: %v", err)
	}
}

func TestCheckURLNil(t *testing.T) {
	if !IsRefused(New(false, nil).CheckURL(nil)) {
		t.Fatal("nil URL not refused")
	}
	// A hand-built URL with an upper-case scheme and an opaque part.
	if !IsRefused(New(false, nil).CheckURL(&url.URL{Scheme: "HTTP", Opaque: "127.0.0.1"})) {
		t.Fatal("opaque URL without host not refused")
	}
}
