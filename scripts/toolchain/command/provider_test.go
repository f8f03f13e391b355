package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"golang.org/x/crypto/ssh"
)

const localURN = "urn:pulumi:dev::proj::command:local:Command::c1"
const remoteURN = "urn:pulumi:dev::proj::command:remote:Command::r1"

func mustMarshal(t *testing.T, m resource.PropertyMap) *pulumirpc.CreateRequest {
	t.Helper()
	s, err := marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return &pulumirpc.CreateRequest{Urn: localURN, Properties: s}
}

func TestCreateRunsLocalCommandWithEnvAndStdin(t *testing.T) {
	p := &commandProvider{}
	req := mustMarshal(t, resource.PropertyMap{
		"create":      resource.NewStringProperty(`printf '%s-' "$GREETING"; cat`),
		"environment": resource.NewObjectProperty(resource.PropertyMap{"GREETING": resource.NewStringProperty("hello")}),
		"stdin":       resource.NewStringProperty("world"),
	})
	resp, err := p.Create(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := unmarshal(resp.GetProperties())
	if got := out["stdout"].StringValue(); got != "hello-world" {
		t.Fatalf("stdout = %q", got)
	}
	if out["stdout"].IsSecret() {
		t.Fatal("stdout must not be secret when no input is secret")
	}
}

func TestSecretInputsMakeOutputsSecretAndWithholdOutputOnFailure(t *testing.T) {
	p := &commandProvider{}
	env := resource.NewObjectProperty(resource.PropertyMap{
		"TOKEN": resource.MakeSecret(resource.NewStringProperty("s3cr3t-token")),
	})
	resp, err := p.Create(context.Background(), mustMarshal(t, resource.PropertyMap{
		"create": resource.NewStringProperty(`echo "$TOKEN"`), "environment": env,
	}))
	if err != nil {
		t.Fatal(err)
	}
	out, _ := unmarshal(resp.GetProperties())
	if !out["stdout"].IsSecret() || !out["stderr"].IsSecret() {
		t.Fatal("stdout/stderr must be secret when an input is secret")
	}
	if !out["environment"].ContainsSecrets() {
		t.Fatal("secret inputs must stay secret in state")
	}
	_, err = p.Create(context.Background(), mustMarshal(t, resource.PropertyMap{
		"create": resource.NewStringProperty(`echo "$TOKEN"; exit 3`), "environment": env,
	}))
	if err == nil || strings.Contains(err.Error(), "s3cr3t-token") {
		t.Fatalf("failure must be reported without the secret output, got %v", err)
	}
}

func TestPreviewCreateLeavesOutputsUnknown(t *testing.T) {
	p := &commandProvider{}
	req := mustMarshal(t, resource.PropertyMap{"create": resource.NewStringProperty("exit 1")})
	req.Preview = true
	resp, err := p.Create(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := unmarshal(resp.GetProperties())
	if !out["stdout"].IsComputed() {
		t.Fatal("stdout must be unknown during preview (the command must not run)")
	}
}

func TestDiffReplacesOnTriggersAndUpdatesOtherwise(t *testing.T) {
	p := &commandProvider{}
	base := resource.PropertyMap{
		"create":   resource.NewStringProperty("echo a"),
		"triggers": resource.NewArrayProperty([]resource.PropertyValue{resource.NewStringProperty("1")}),
	}
	cases := []struct {
		name     string
		change   func(resource.PropertyMap)
		changes  pulumirpc.DiffResponse_DiffChanges
		replaces []string
	}{
		{"no change", func(resource.PropertyMap) {}, pulumirpc.DiffResponse_DIFF_NONE, nil},
		{"create changed", func(m resource.PropertyMap) { m["create"] = resource.NewStringProperty("echo b") },
			pulumirpc.DiffResponse_DIFF_SOME, nil},
		{"triggers changed", func(m resource.PropertyMap) {
			m["triggers"] = resource.NewArrayProperty([]resource.PropertyValue{resource.NewStringProperty("2")})
		}, pulumirpc.DiffResponse_DIFF_SOME, []string{"triggers"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			news := base.Copy()
			tc.change(news)
			o, _ := marshal(base)
			n, _ := marshal(news)
			resp, err := p.Diff(context.Background(), &pulumirpc.DiffRequest{Urn: localURN, OldInputs: o, News: n})
			if err != nil {
				t.Fatal(err)
			}
			if resp.GetChanges() != tc.changes {
				t.Fatalf("changes = %v, want %v", resp.GetChanges(), tc.changes)
			}
			if fmt.Sprint(resp.GetReplaces()) != fmt.Sprint(tc.replaces) {
				t.Fatalf("replaces = %v, want %v", resp.GetReplaces(), tc.replaces)
			}
		})
	}
}

func TestCheckRejectsUnknownInputsAndMissingHost(t *testing.T) {
	p := &commandProvider{}
	news, _ := marshal(resource.PropertyMap{
		"create":     resource.NewStringProperty("true"),
		"creat":      resource.NewStringProperty("typo"),
		"connection": resource.NewObjectProperty(resource.PropertyMap{"user": resource.NewStringProperty("root")}),
	})
	resp, err := p.Check(context.Background(), &pulumirpc.CheckRequest{Urn: remoteURN, News: news})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, f := range resp.GetFailures() {
		got[f.GetProperty()] = true
	}
	if !got["creat"] || !got["connection.host"] {
		t.Fatalf("failures = %v", resp.GetFailures())
	}
}

// sshServer is a minimal in-process SSH server on loopback that runs exec
// requests with /bin/sh, honouring (or refusing) env requests.
func sshServer(t *testing.T, clientKey ssh.PublicKey, acceptEnv bool) (string, func()) {
	t.Helper()
	_, hostPriv, _ := ed25519.GenerateKey(rand.Reader)
	hostSigner, _ := ssh.NewSignerFromKey(hostPriv)
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(_ ssh.ConnMetadata, k ssh.PublicKey) (*ssh.Permissions, error) {
			if string(k.Marshal()) == string(clientKey.Marshal()) {
				return nil, nil
			}
			return nil, fmt.Errorf("unknown key")
		},
	}
	cfg.AddHostKey(hostSigner)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, chans, reqs, err := ssh.NewServerConn(nc, cfg)
				if err != nil {
					return
				}
				go ssh.DiscardRequests(reqs)
				for nch := range chans {
					ch, creqs, _ := nch.Accept()
					go serveSession(ch, creqs, acceptEnv)
				}
			}()
		}
	}()
	return ln.Addr().String(), func() { ln.Close() }
}

func serveSession(ch ssh.Channel, reqs <-chan *ssh.Request, acceptEnv bool) {
	var env []string
	for req := range reqs {
		switch req.Type {
		case "env":
			var kv struct{ Name, Value string }
			_ = ssh.Unmarshal(req.Payload, &kv)
			if acceptEnv {
				env = append(env, kv.Name+"="+kv.Value)
			}
			_ = req.Reply(acceptEnv, nil)
		case "exec":
			var cmd struct{ Command string }
			_ = ssh.Unmarshal(req.Payload, &cmd)
			_ = req.Reply(true, nil)
			c := exec.Command("/bin/sh", "-c", cmd.Command)
			c.Env = env
			c.Stdin, c.Stdout, c.Stderr = ch, ch, ch.Stderr()
			code := 0
			if err := c.Run(); err != nil {
				code = 1
				if ee, ok := err.(*exec.ExitError); ok {
					code = ee.ExitCode()
				}
			}
			_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{uint32(code)}))
			ch.Close()
			return
		default:
			_ = req.Reply(false, nil)
		}
	}
}

func TestRemoteCommandPassesEnvironmentWithAndWithoutAcceptEnv(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	block, _ := ssh.MarshalPrivateKey(priv, "")
	keyPEM := string(pem.EncodeToMemory(block))
	sshPub, _ := ssh.NewPublicKey(pub)
	for _, accept := range []bool{true, false} {
		t.Run(fmt.Sprintf("acceptEnv=%v", accept), func(t *testing.T) {
			addr, stop := sshServer(t, sshPub, accept)
			defer stop()
			host, port, _ := net.SplitHostPort(addr)
			var portNum int
			fmt.Sscan(port, &portNum)
			res, err := runRemote(context.Background(),
				connection{host: host, port: portNum, user: "tester", privateKey: keyPEM, dialErrorLimit: 1},
				runSpec{command: `echo "join:$JOIN_TOKEN"`, env: map[string]string{"JOIN_TOKEN": "abc.def"}})
			if err != nil {
				t.Fatal(err)
			}
			if res.stdout != "join:abc.def" {
				t.Fatalf("stdout = %q", res.stdout)
			}
		})
	}
}

// A failing command with a secret input: its `gpu-caas: ` stderr lines reach the
// error, a prefixed line holding the secret is dropped, everything else stays
// withheld; with no prefixed line the message is as before.
func TestFailedSecretCommandShowsOnlyItsScreenedGpuCaasLines(t *testing.T) {
	p := &commandProvider{}
	env := resource.NewObjectProperty(resource.PropertyMap{
		"TOKEN": resource.MakeSecret(resource.NewStringProperty("s3cr3t-token")),
		"NODE":  resource.NewStringProperty("gpu-3"),
	})
	cases := []struct {
		name, script string
		want         string
	}{
		{
			"prefixed lines shown, secret line dropped, the rest withheld",
			`echo "gpu-caas: $NODE: drain" >&2
			echo "error: cannot evict pod default/web-0 ($TOKEN)" >&2
			echo "plain stdout $TOKEN"
			echo "gpu-caas: $NODE: drain: token was $TOKEN" >&2
			echo "gpu-caas: $NODE: drain: failed (exit 1)" >&2
			exit 1`,
			"create command of c1 failed: exit status 1; gpu-caas: gpu-3: drain\n" +
				droppedLineMarker + "\n" +
				"gpu-caas: gpu-3: drain: failed (exit 1)\n" +
				"(other output withheld: the command has secret inputs)",
		},
		{
			"no prefixed line: all withheld",
			`echo "drain failed for $NODE with $TOKEN" >&2; exit 3`,
			"create command of c1 failed: exit status 3 (output withheld: the command has secret inputs)",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := p.Create(context.Background(), mustMarshal(t, resource.PropertyMap{
				"create": resource.NewStringProperty(tc.script), "environment": env,
			}))
			if err == nil || err.Error() != tc.want {
				t.Fatalf("error =\n%v\nwant\n%s", err, tc.want)
			}
		})
	}
}

func TestUserLinesPicksScreensAndCapsPrefixedLines(t *testing.T) {
	kubeconfig := "apiVersion: v1\nkind: Config\nusers:\n- name: admin\n  user:\n" +
		"    client-certificate-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t\n"
	var many []string
	for i := 1; i <= 25; i++ {
		many = append(many, fmt.Sprintf("gpu-caas: step %d", i))
	}
	long := "gpu-caas: " + strings.Repeat("é", 400)
	cases := []struct {
		name    string
		stderr  string
		secrets []string
		want    []string
	}{
		{"no prefixed line", "error: gpu-caas: not at the start\n  gpu-caas: indented\nplain", nil, []string{}},
		{"prefixed lines in order, CR stripped", "a\ngpu-caas: one\r\nb\ngpu-caas: two", nil,
			[]string{"gpu-caas: one", "gpu-caas: two"}},
		{"last 20 kept", strings.Join(many, "\n"), nil, many[5:]},
		{"cut to 300 characters", long, nil, []string{"gpu-caas: " + strings.Repeat("é", 289) + "…"}},
		{"whole secret value", "gpu-caas: key is hunter2-long\ngpu-caas: ok", []string{"hunter2-long"},
			[]string{droppedLineMarker, "gpu-caas: ok"}},
		{"secret past the cut is still seen", "gpu-caas: " + strings.Repeat("x", 295) + "hunter2-long",
			[]string{"hunter2-long"}, []string{droppedLineMarker}},
		{"value of one kubeconfig line", "gpu-caas: cert LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t", []string{kubeconfig},
			[]string{droppedLineMarker}},
		{"kubeconfig scaffolding is not a secret", "gpu-caas: users: kind: Config", []string{kubeconfig},
			[]string{"gpu-caas: users: kind: Config"}},
		{"credential markers, any case", "gpu-caas: -----BEGIN OPENSSH PRIVATE KEY-----\ngpu-caas: Token: abc\n" +
			"gpu-caas: client-key-data: x\ngpu-caas: tokens are fine", nil,
			[]string{droppedLineMarker, droppedLineMarker, droppedLineMarker, "gpu-caas: tokens are fine"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := userLines(tc.stderr, tc.secrets)
			if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", tc.want) {
				t.Fatalf("userLines =\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
}

func TestSecretStringsFindsNestedSecretsButNotRecordedOutputs(t *testing.T) {
	inputs := resource.PropertyMap{
		"create": resource.NewStringProperty("kubeadm join"),
		"stdin":  resource.MakeSecret(resource.NewStringProperty("kubeconfig-text")),
		"connection": resource.NewObjectProperty(resource.PropertyMap{
			"host":       resource.NewStringProperty("10.0.1.5"),
			"privateKey": resource.MakeSecret(resource.NewStringProperty("pem-text")),
		}),
		"environment": resource.MakeSecret(resource.NewObjectProperty(resource.PropertyMap{
			"JOIN_TOKEN": resource.NewStringProperty("abcdef.0123456789abcdef"),
		})),
		"stderr": resource.MakeSecret(resource.NewStringProperty("gpu-caas: previous run")),
	}
	got := secretStrings(inputs)
	sort.Strings(got)
	want := []string{"abcdef.0123456789abcdef", "kubeconfig-text", "pem-text"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("secretStrings = %v, want %v", got, want)
	}
}

// Over SSH the key in `connection` is the secret input; the script's
// `gpu-caas: ` lines still reach the error.
func TestRemoteFailureShowsGpuCaasLines(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	block, _ := ssh.MarshalPrivateKey(priv, "")
	keyPEM := string(pem.EncodeToMemory(block))
	sshPub, _ := ssh.NewPublicKey(pub)
	addr, stop := sshServer(t, sshPub, true)
	defer stop()
	host, port, _ := net.SplitHostPort(addr)
	var portNum int
	fmt.Sscan(port, &portNum)
	props, err := marshal(resource.PropertyMap{
		"create": resource.NewStringProperty(`echo "gpu-caas: gpu-3: install kubeadm 1.35.0: no such package" >&2; exit 2`),
		"connection": resource.NewObjectProperty(resource.PropertyMap{
			"host":           resource.NewStringProperty(host),
			"port":           resource.NewNumberProperty(float64(portNum)),
			"user":           resource.NewStringProperty("tester"),
			"privateKey":     resource.MakeSecret(resource.NewStringProperty(keyPEM)),
			"dialErrorLimit": resource.NewNumberProperty(1),
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	p := &commandProvider{}
	_, err = p.Create(context.Background(), &pulumirpc.CreateRequest{Urn: remoteURN, Properties: props})
	want := "create command of r1 failed: Process exited with status 2; " +
		"gpu-caas: gpu-3: install kubeadm 1.35.0: no such package\n" +
		"(other output withheld: the command has secret inputs)"
	if err == nil || err.Error() != want {
		t.Fatalf("error =\n%v\nwant\n%s", err, want)
	}
}
