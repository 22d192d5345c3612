package ops_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// browser drives headless Chromium over the DevTools protocol on a pipe
// (--remote-debugging-pipe: commands on fd 3, replies on fd 4, each JSON
// message ended by a NUL byte), so a test can click like a person and
// take screenshots without a driver library.
type browser struct {
	t       *testing.T
	cmd     *exec.Cmd
	in      *os.File // Chromium reads commands here
	mu      sync.Mutex
	nextID  int
	waiting map[int]chan cdpReply
	session string
}

type cdpReply struct {
	ID     int             `json:"id"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Message string `json:"message"`
	} `json:"error"`
}

// startBrowser starts Chromium with one page open, or skips the test when
// chromium is not installed.
func startBrowser(t *testing.T) *browser {
	t.Helper()
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not on PATH (apt-get install -y chromium); the console is not checked in a browser")
	}
	profile, err := os.MkdirTemp("", "hookworker-chromium-")
	require.NoError(t, err)
	inR, inW, err := os.Pipe()
	require.NoError(t, err)
	outR, outW, err := os.Pipe()
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, chromium,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-default-apps", "--no-pings", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
		"--user-data-dir="+profile, "--remote-debugging-pipe", "about:blank")
	cmd.ExtraFiles = []*os.File{inR, outW}
	require.NoError(t, cmd.Start())
	inR.Close()
	outW.Close()
	b := &browser{t: t, cmd: cmd, in: inW, waiting: map[int]chan cdpReply{}}
	done := make(chan struct{})
	go b.read(outR, done)
	t.Cleanup(func() {
		// Browser.close lets Chromium stop its helper processes; killing
		// it is the fallback.
		b.session = ""
		b.mu.Lock()
		b.nextID++
		msg, _ := json.Marshal(map[string]any{"id": b.nextID, "method": "Browser.close"})
		b.mu.Unlock()
		b.in.Write(append(msg, 0)) //nolint:errcheck // it may be gone already
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }() //nolint:errcheck // exit status does not matter
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cancel()
			<-exited
		}
		cancel()
		inW.Close()
		<-done
		// Helper processes may still be writing the profile for a moment.
		deadline := time.Now().Add(10 * time.Second)
		for os.RemoveAll(profile) != nil && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
	})

	var target struct {
		TargetID string `json:"targetId"`
	}
	b.call("Target.createTarget", map[string]any{"url": "about:blank"}, &target)
	var attached struct {
		SessionID string `json:"sessionId"`
	}
	b.call("Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &attached)
	b.session = attached.SessionID
	b.call("Emulation.setDeviceMetricsOverride", map[string]any{"width": 1280, "height": 1000, "deviceScaleFactor": 1, "mobile": false}, nil)
	return b
}

func (b *browser) read(r *os.File, done chan struct{}) {
	defer close(done)
	br := bufio.NewReaderSize(r, 1<<20)
	for {
		msg, err := br.ReadBytes(0)
		if err != nil {
			b.mu.Lock()
			for id, ch := range b.waiting {
				close(ch)
				delete(b.waiting, id)
			}
			b.mu.Unlock()
			return
		}
		var rep cdpReply
		if json.Unmarshal(msg[:len(msg)-1], &rep) != nil || rep.ID == 0 {
			continue // an event
		}
		b.mu.Lock()
		ch := b.waiting[rep.ID]
		delete(b.waiting, rep.ID)
		b.mu.Unlock()
		if ch != nil {
			ch <- rep
		}
	}
}

// call sends one command to the page's session (or to the browser before
// there is one) and decodes its result into out.
func (b *browser) call(method string, params map[string]any, out any) {
	b.t.Helper()
	b.mu.Lock()
	b.nextID++
	id := b.nextID
	ch := make(chan cdpReply, 1)
	b.waiting[id] = ch
	b.mu.Unlock()
	msg := map[string]any{"id": id, "method": method, "params": params}
	if b.session != "" {
		msg["sessionId"] = b.session
	}
	raw, err := json.Marshal(msg)
	require.NoError(b.t, err)
	_, err = b.in.Write(append(raw, 0))
	require.NoError(b.t, err, "write to chromium")
	select {
	case rep, ok := <-ch:
		require.True(b.t, ok, "chromium went away during %s", method)
		require.Nil(b.t, rep.Error, "%s: %+v", method, rep.Error)
		if out != nil {
			require.NoError(b.t, json.Unmarshal(rep.Result, out), method)
		}
	case <-time.After(30 * time.Second):
		require.FailNow(b.t, "chromium did not answer", method)
	}
}

// eval runs a JavaScript expression in the page and returns its value.
func (b *browser) eval(expr string) any {
	b.t.Helper()
	var res struct {
		Result struct {
			Value any `json:"value"`
		} `json:"result"`
		ExceptionDetails any `json:"exceptionDetails"`
	}
	b.call("Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true}, &res)
	require.Nil(b.t, res.ExceptionDetails, "%s", expr)
	return res.Result.Value
}

// waitFor polls a JavaScript condition until it is true, for 20 s at most.
func (b *browser) waitFor(cond string) {
	b.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if v, ok := b.eval("document.readyState === 'complete' && !!(" + cond + ")").(bool); ok && v {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	require.FailNow(b.t, "page condition never held", "%s; page: %v", cond, b.eval("location.href + ' ' + document.body.innerText.slice(0, 500)"))
}

// open navigates and waits until the condition holds on the new page.
func (b *browser) open(url, cond string) {
	b.t.Helper()
	b.call("Page.navigate", map[string]any{"url": url}, nil)
	b.waitFor(fmt.Sprintf("location.href === %q && (%s)", url, cond))
}

// click presses and releases the mouse on the middle of the element that
// selector finds, as a person's click.
func (b *browser) click(selector string) {
	b.t.Helper()
	b.waitFor(fmt.Sprintf("document.querySelector(%q)", selector))
	pos, ok := b.eval(fmt.Sprintf(`(() => { const e = document.querySelector(%q); e.scrollIntoView({block: "center"});
		const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()`, selector)).([]any)
	require.True(b.t, ok && len(pos) == 2, "no position for %s", selector)
	for _, typ := range []string{"mousePressed", "mouseReleased"} {
		b.call("Input.dispatchMouseEvent", map[string]any{"type": typ, "x": pos[0], "y": pos[1], "button": "left", "clickCount": 1}, nil)
	}
}

// screenshot saves the page as PNG in dir/name and returns its path.
func (b *browser) screenshot(dir, name string) string {
	b.t.Helper()
	var shot struct {
		Data string `json:"data"`
	}
	b.call("Page.captureScreenshot", map[string]any{"format": "png", "captureBeyondViewport": true}, &shot)
	png, err := base64.StdEncoding.DecodeString(shot.Data)
	require.NoError(b.t, err)
	require.Greater(b.t, len(png), 5_000, "the screenshot is suspiciously small")
	path := filepath.Join(dir, name)
	require.NoError(b.t, os.WriteFile(path, png, 0o644))
	return path
}

// artifactDir is where a test saves its screenshots: $TEST_ARTIFACTS/<test>
// when set, else artifacts/<test> at the repository's root (kept after the
// run, ignored by git).
func artifactDir(t *testing.T) string {
	t.Helper()
	root := os.Getenv("TEST_ARTIFACTS")
	if root == "" {
		root = filepath.Join("..", "artifacts")
	}
	dir, err := filepath.Abs(filepath.Join(root, t.Name()))
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(dir, 0o755))
	return dir
}
