package netguard

import (
	"net/netip"
	"net/url"
	"testing"
)

// FuzzCheckURL checks that CheckURL never panics, only ever returns a
// *RefusedError, agrees with CheckAddr on literal IP hosts, and that
// allowPrivate never refuses what the strict guard accepts. Seeds live in
// testdata/fuzz/FuzzCheckURL too.
func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{
		"https://example.com/hook",
		"http://127.1/",
		"http://0x7f000001/",
		"http://[::ffff:127.0.0.1]:8080/",
		"http://[fe80::1%25eth0]/",
		"HTTP://8.8.8.8./",
		"javascript:alert(1)",
	} {
		f.Add(s)
	}
	strict := New(false, nil)
	open := New(true, nil)
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := url.Parse(raw)
		if err != nil {
			return
		}
		errStrict := strict.CheckURL(u)
		if errStrict != nil {
			if _, ok := errStrict.(*RefusedError); !ok {
				t.Fatalf("CheckURL(%q) returned %T, want *RefusedError", raw, errStrict)
			}
			_ = errStrict.Error()
		}
		errOpen := open.CheckURL(u)
		if errOpen != nil {
			if _, ok := errOpen.(*RefusedError); !ok {
				t.Fatalf("CheckURL(%q) returned %T, want *RefusedError", raw, errOpen)
			}
		}
		if errStrict == nil && errOpen != nil {
			t.Fatalf("CheckURL(%q): strict allowed, allowPrivate refused: %v", raw, errOpen)
		}
		if errStrict == nil {
			if ip, err := netip.ParseAddr(u.Hostname()); err == nil {
				if err := strict.CheckAddr(ip); err != nil {
					t.Fatalf("CheckURL(%q) allowed literal IP that CheckAddr refuses: %v", raw, err)
				}
			}
		}
	})
}
