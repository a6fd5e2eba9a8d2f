package unicloud

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

// The integration tests run real Caddy configs: in this process with
// caddy.Load (one config at a time, as Caddy itself), or in child processes
// (this test binary re-executed) when a test needs two Caddy instances.

const childConfigEnv = "UNICLOUD_TEST_CHILD_CONFIG"

func TestMain(m *testing.M) {
	if path := os.Getenv(childConfigEnv); path != "" {
		os.Exit(runChild(path))
	}
	os.Exit(m.Run())
}

// runChild runs a Caddy config until its standard input closes.
func runChild(path string) int {
	cfg, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if err := caddy.Load(cfg, true); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		return 3
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	_ = caddy.Stop()
	return 0
}

// testClient opens a new connection per request: a config reload closes the
// old server's idle connections, which a kept-alive client would reuse.
var testClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 30 * time.Second}

// testResponse is an answer read whole.
type testResponse struct {
	Status int
	Header http.Header
	Body   []byte
}

// testSend makes a request with header and body through testClient and
// reads the whole answer; a request that cannot be made fails the test.
func testSend(t testing.TB, method, url string, header http.Header, body []byte) testResponse {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := testClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return testResponse{Status: resp.StatusCode, Header: resp.Header, Body: raw}
}

// headerPairs is the header of a Content-Type (none when "") and name,
// value pairs.
func headerPairs(contentType string, kv ...string) http.Header {
	h := http.Header{}
	if contentType != "" {
		h.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

// jsonNumbers decodes a JSON object, numbers as json.Number.
func jsonNumbers(raw []byte) (map[string]any, error) {
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	err := dec.Decode(&m)
	return m, err
}

// freeAddr returns a loopback address with a port free at the time of the
// call. The port is picked at random below the kernel's ephemeral range:
// one from that range (what port 0 gives) can become an outgoing
// connection's source port before Caddy binds it, and the load fails with
// "address already in use".
func freeAddr(t testing.TB) string {
	t.Helper()
	if low := ephemeralLow(); low > 11024 {
		for range 200 {
			addr := "127.0.0.1:" + strconv.Itoa(low-10000+rand.IntN(10000))
			if l, err := net.Listen("tcp", addr); err == nil {
				l.Close()
				return addr
			}
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// ephemeralLow is the first port of the kernel's ephemeral range (0 when
// it cannot be read: not Linux).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	n, _ := strconv.Atoi(f[0])
	return n
}

// adaptCaddyfile turns a Caddyfile into JSON config.
func adaptCaddyfile(t testing.TB, caddyfile string) []byte {
	t.Helper()
	cfg, warnings, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), nil)
	if err != nil {
		t.Fatalf("adapt: %v\n%s", err, caddyfile)
	}
	for _, w := range warnings {
		if !strings.Contains(w.Message, "formatted") {
			t.Logf("adapt warning: %s", w.Message)
		}
	}
	return cfg
}

// globalOptions are the options every test config starts with: no admin
// endpoint, no HTTPS, storage and logs in the test's folders.
func globalOptions(storageDir, logFile string) string {
	log := "\tlog {\n\t\toutput discard\n\t}\n"
	if logFile != "" {
		log = fmt.Sprintf("\tlog {\n\t\toutput file %s\n\t\tlevel DEBUG\n\t}\n", logFile)
	}
	return fmt.Sprintf("{\n\tadmin off\n\tpersist_config off\n\tauto_https off\n\tstorage file_system %s\n%s}\n", storageDir, log)
}

// loadCaddy runs a Caddyfile in this process until the test ends.
func loadCaddy(t testing.TB, caddyfile string) {
	t.Helper()
	if err := caddy.Load(adaptCaddyfile(t, caddyfile), true); err != nil {
		t.Fatalf("load: %v", err)
	}
	t.Cleanup(func() { _ = caddy.Stop() })
}

// reloadCaddy loads a new config into the running Caddy (a config reload)
// and waits until the new servers answer: a connection the old servers
// accepted while they were shut down is closed without an answer, which a
// test must not mistake for the handler's.
func reloadCaddy(t testing.TB, caddyfile, probeURL string) {
	t.Helper()
	if err := caddy.Load(adaptCaddyfile(t, caddyfile), true); err != nil {
		t.Fatalf("reload: %v", err)
	}
	for i := 0; ; i++ {
		resp, err := testClient.Get(probeURL)
		if err == nil {
			resp.Body.Close()
			return
		}
		if i == 50 {
			t.Fatalf("after the reload nothing answers %s: %v", probeURL, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// scrapeMetrics reads the caddy_unicloud_* samples of a Prometheus text
// endpoint, by name with labels. Collectors are per process and every test
// counts: compare a scrape before and after.
func scrapeMetrics(t testing.TB, url string) map[string]float64 {
	t.Helper()
	resp, err := testClient.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	m := map[string]float64{}
	for _, line := range strings.Split(string(raw), "\n") {
		if name, val, ok := strings.Cut(line, " "); ok && strings.HasPrefix(name, "caddy_unicloud_") {
			var f float64
			fmt.Sscan(val, &f)
			m[name] = f
		}
	}
	return m
}

// startChildCaddy runs a Caddyfile in a child process until the test ends.
func startChildCaddy(t *testing.T, caddyfile string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "caddy.json")
	if err := os.WriteFile(path, adaptCaddyfile(t, caddyfile), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childConfigEnv+"="+path)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
		}
	})
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if sc.Text() == "ready" {
				ready <- true
				_, _ = io.Copy(io.Discard, stdout)
				return
			}
		}
		ready <- false
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatal("child Caddy exited before it was ready")
		}
	case <-time.After(60 * time.Second):
		t.Fatal("child Caddy did not start")
	}
}
