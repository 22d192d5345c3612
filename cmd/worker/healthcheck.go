package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/hookworker/hookworker/config"
)

// healthcheck asks the worker's operator server on HTTP_ADDR whether it is
// ready and fails unless /readyz answers 200. Container images without a
// shell or curl use it as their health check.
func healthcheck(cfg config.Config, stdout io.Writer) error {
	if strings.EqualFold(cfg.HTTPAddr, "off") {
		return fmt.Errorf("healthcheck: HTTP_ADDR is off, so there is nothing to ask")
	}
	url := "http://" + probeAddr(cfg.HTTPAddr) + "/readyz"
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	fmt.Fprintln(stdout, "ready")
	return nil
}

// probeAddr turns a listen address into one to connect to: a wildcard host
// (0.0.0.0, ::, or none) becomes loopback.
func probeAddr(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return net.JoinHostPort(host, port)
}
