package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"golang.org/x/crypto/ssh"
)

type runSpec struct {
	command     string
	env         map[string]string
	stdin       string
	dir         string   // local only
	interpreter []string // local only; default /bin/sh -c
}

type runResult struct {
	stdout, stderr string
}

func randomSuffix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func sortedEnv(env map[string]string) []string {
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

func runLocal(ctx context.Context, spec runSpec) (runResult, error) {
	interp := spec.interpreter
	if len(interp) == 0 {
		interp = []string{"/bin/sh", "-c"}
	}
	args := append(append([]string{}, interp[1:]...), spec.command)
	cmd := exec.CommandContext(ctx, interp[0], args...)
	cmd.Dir = spec.dir
	cmd.Env = append(os.Environ(), sortedEnv(spec.env)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if spec.stdin != "" {
		cmd.Stdin = strings.NewReader(spec.stdin)
	}
	err := cmd.Run()
	return runResult{stdout: strings.TrimRight(stdout.String(), "\n"), stderr: strings.TrimRight(stderr.String(), "\n")}, err
}

type connection struct {
	host, user, privateKey, password string
	port                             int
	dialErrorLimit                   int
	perDialTimeout                   time.Duration
}

func parseConnection(v resource.PropertyValue) (connection, error) {
	c := connection{port: 22, user: "root", dialErrorLimit: 10, perDialTimeout: 15 * time.Second}
	v = unwrap(v)
	if !v.IsObject() {
		return c, errors.New("connection is required")
	}
	obj := v.ObjectValue()
	str := func(k resource.PropertyKey) string {
		if x, ok := obj[k]; ok && unwrap(x).IsString() {
			return unwrap(x).StringValue()
		}
		return ""
	}
	num := func(k resource.PropertyKey) (int, bool) {
		if x, ok := obj[k]; ok && unwrap(x).IsNumber() {
			return int(unwrap(x).NumberValue()), true
		}
		return 0, false
	}
	c.host = str("host")
	if u := str("user"); u != "" {
		c.user = u
	}
	c.privateKey, c.password = str("privateKey"), str("password")
	if n, ok := num("port"); ok {
		c.port = n
	}
	if n, ok := num("dialErrorLimit"); ok {
		c.dialErrorLimit = n
	}
	if n, ok := num("perDialTimeout"); ok {
		c.perDialTimeout = time.Duration(n) * time.Second
	}
	if c.host == "" {
		return c, errors.New("connection.host is required")
	}
	return c, nil
}

func dial(ctx context.Context, c connection) (*ssh.Client, error) {
	cfg := &ssh.ClientConfig{
		User: c.user,
		// Like upstream pulumi-command, host keys are not pinned: hosts are
		// freshly provisioned and their keys are not known in advance.
		HostKeyCallback: ssh.InsecureIgnoreHostKey(), //nolint:gosec
		Timeout:         c.perDialTimeout,
	}
	if c.privateKey != "" {
		signer, err := ssh.ParsePrivateKey([]byte(c.privateKey))
		if err != nil {
			return nil, errors.New("connection.privateKey is not a valid private key") // never echo the key
		}
		cfg.Auth = append(cfg.Auth, ssh.PublicKeys(signer))
	}
	if c.password != "" {
		cfg.Auth = append(cfg.Auth, ssh.Password(c.password))
	}
	addr := net.JoinHostPort(c.host, strconv.Itoa(c.port))
	var lastErr error
	for attempt := 0; c.dialErrorLimit < 0 || attempt <= c.dialErrorLimit; attempt++ {
		client, err := ssh.Dial("tcp", addr, cfg)
		if err == nil {
			return client, nil
		}
		lastErr = err
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Duration(min(attempt+1, 10)) * time.Second):
		}
	}
	return nil, fmt.Errorf("could not connect to %s after %d attempts: %w", addr, c.dialErrorLimit+1, lastErr)
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'"'"'`) + "'"
}

// runRemote runs the command over SSH. Environment values are sent with the
// SSH "env" request when the server accepts them; otherwise they are exported
// by a script written to the remote shell's stdin, never placed on a command
// line (which `ps` on the host would show).
func runRemote(ctx context.Context, c connection, spec runSpec) (runResult, error) {
	client, err := dial(ctx, c)
	if err != nil {
		return runResult{}, err
	}
	defer client.Close()
	session, err := client.NewSession()
	if err != nil {
		return runResult{}, err
	}
	defer session.Close()

	setenvOK := true
	for _, kv := range sortedEnv(spec.env) {
		k, v, _ := strings.Cut(kv, "=")
		if err := session.Setenv(k, v); err != nil {
			setenvOK = false
			break
		}
	}
	var stdout, stderr bytes.Buffer
	session.Stdout, session.Stderr = &stdout, &stderr
	if setenvOK {
		if spec.stdin != "" {
			session.Stdin = strings.NewReader(spec.stdin)
		}
		err = session.Run(spec.command)
	} else {
		if spec.stdin != "" {
			return runResult{}, errors.New(
				"the host refused SSH environment variables (sshd AcceptEnv) and the command also reads stdin; " +
					"allow the variables in sshd_config or drop stdin")
		}
		var script strings.Builder
		for _, kv := range sortedEnv(spec.env) {
			k, v, _ := strings.Cut(kv, "=")
			fmt.Fprintf(&script, "export %s=%s\n", k, shellQuote(v))
		}
		script.WriteString(spec.command + "\n")
		session.Stdin = strings.NewReader(script.String())
		err = session.Run("/bin/sh -s")
	}
	return runResult{stdout: strings.TrimRight(stdout.String(), "\n"), stderr: strings.TrimRight(stderr.String(), "\n")}, err
}
