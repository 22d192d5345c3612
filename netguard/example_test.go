package netguard_test

import (
	"fmt"
	"net/url"

	"github.com/hookworker/hookworker/netguard"
)

func ExampleGuard_CheckURL() {
	g := netguard.New(false, nil)
	for _, raw := range []string{
		"https://example.com/hook",
		"ftp://example.com/hook",
		"http://127.1/",
		"http://10.0.0.1/hook",
		"http://[::ffff:169.254.169.254]/",
	} {
		u, err := url.Parse(raw)
		if err != nil {
			fmt.Println(err)
			continue
		}
		if err := g.CheckURL(u); err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println("ok:", raw)
	}
	// Output:
	// ok: https://example.com/hook
	// destination refused: example.com: unsupported URL scheme "ftp" (only http and https)
	// destination refused: 127.1: invalid host: non-canonical numeric IPv4 form
	// destination refused: 10.0.0.1 is in a private network (10.0.0.0/8)
	// destination refused: ::ffff:169.254.169.254 is the cloud metadata service address of AWS, GCP, Azure, DigitalOcean and others (169.254.169.254/32), refused unless allowed as a single address
}
