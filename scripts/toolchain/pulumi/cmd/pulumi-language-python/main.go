// Command pulumi-language-python is gpu-caas's Python language host for the
// Pulumi engine.
//
// Upstream's host lives in its own Go module
// (github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3), which
// the Go module proxy this project can reach does not serve in any version.
// This host implements the same LanguageRuntime gRPC protocol from the
// sdk/v3 module of the same Pulumi release as the CLI it ships with, and
// delegates all Python-side work to the upstream executor shim
// (`pulumi-language-python-exec`, from the sdk/v3 module) and to
// `python -m pulumi.policy` for policy packs, exactly as the engine expects.
//
// Supported: Handshake, GetPluginInfo, GetRequiredPackages/Plugins, Run,
// RunPlugin (policy packs and Python plugins), GetProgramDependencies, About,
// InstallDependencies (creates the virtualenv and installs requirements.txt
// when it is missing). Code generation RPCs (GenerateProject, Pack, ...) are
// not implemented: this project does not use them.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
)

// version is set at build time to the Pulumi release this host ships with.
var version = "3.259.0"

// userActionableExit is the exit code the executor shim uses after it has
// already reported the error to the engine (PYTHON_PROCESS_EXITED_AFTER_SHOWING_USER_ACTIONABLE_MESSAGE_CODE).
const userActionableExit = 32

func main() {
	// The engine passes the engine address as the only positional argument;
	// older engines also pass -tracing/-root/-virtualenv flags, accepted and ignored.
	flag.String("tracing", "", "ignored")
	flag.String("root", "", "ignored")
	flag.String("virtualenv", "", "ignored")
	flag.Parse()
	engineAddress := ""
	if flag.NArg() > 0 {
		engineAddress = flag.Arg(0)
	}

	self, err := os.Executable()
	if err != nil {
		fatal("cannot determine own path: %v", err)
	}
	execShim := filepath.Join(filepath.Dir(self), "pulumi-language-python-exec")
	if _, err := os.Stat(execShim); err != nil {
		fatal("missing executor %s (run `make setup`): %v", execShim, err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if engineAddress != "" {
		// Exit when the engine goes away, like every Pulumi plugin.
		if err := rpcutil.Healthcheck(ctx, engineAddress, 5*time.Minute, cancel); err != nil {
			fatal("could not start health check: %v", err)
		}
	}
	cancelChannel := make(chan bool)
	go func() { <-ctx.Done(); close(cancelChannel) }()

	cwd, _ := os.Getwd()
	host := &languageHost{engineAddress: engineAddress, execShim: execShim, cwd: cwd}
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Cancel: cancelChannel,
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, host)
			return nil
		},
	})
	if err != nil {
		fatal("could not start language host RPC server: %v", err)
	}
	// The engine reads the port from our first line of stdout.
	fmt.Printf("%d\n", handle.Port)
	if err := <-handle.Done; err != nil {
		fatal("language host RPC stopped serving: %v", err)
	}
}

func fatal(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "pulumi-language-python: "+format+"\n", args...)
	os.Exit(1)
}

type languageHost struct {
	pulumirpc.UnimplementedLanguageRuntimeServer

	engineAddress string
	execShim      string
	cwd           string

	// The warm start (warm.go): one interpreter started early with the
	// project's `preload` modules imported, handed to the first Run.
	warmMu      sync.Mutex
	warmStarted bool
	warm        *warmProgram
}

// python resolves the interpreter for a program: the `virtualenv` runtime
// option (relative to the project root), else $PULUMI_PYTHON_CMD, else python3.
type python struct {
	exe        string
	virtualenv string // empty when not using a virtualenv
}

func resolvePython(info *pulumirpc.ProgramInfo) (python, error) {
	if info != nil && info.GetOptions() != nil {
		if v, ok := info.GetOptions().GetFields()["virtualenv"]; ok && v.GetStringValue() != "" {
			venv := v.GetStringValue()
			if !filepath.IsAbs(venv) {
				venv = filepath.Join(info.GetRootDirectory(), venv)
			}
			exe := filepath.Join(venv, "bin", "python")
			if _, err := os.Stat(exe); err != nil {
				return python{}, fmt.Errorf(
					"the virtualenv %s named by the `virtualenv` runtime option does not exist; run `make setup`", venv)
			}
			return python{exe: exe, virtualenv: venv}, nil
		}
	}
	if cmd := os.Getenv("PULUMI_PYTHON_CMD"); cmd != "" {
		return python{exe: cmd}, nil
	}
	exe, err := exec.LookPath("python3")
	if err != nil {
		return python{}, errors.New("python3 not found on PATH; install Python 3.11+ or set PULUMI_PYTHON_CMD")
	}
	return python{exe: exe}, nil
}

// env returns base with the virtualenv activated, as `source bin/activate` would.
func (p python) env(base []string) []string {
	if p.virtualenv == "" {
		return base
	}
	out := make([]string, 0, len(base)+2)
	path := filepath.Join(p.virtualenv, "bin")
	for _, kv := range base {
		switch {
		case strings.HasPrefix(kv, "PATH="):
			path += string(os.PathListSeparator) + strings.TrimPrefix(kv, "PATH=")
		case strings.HasPrefix(kv, "PYTHONHOME="), strings.HasPrefix(kv, "VIRTUAL_ENV="):
		default:
			out = append(out, kv)
		}
	}
	return append(out, "PATH="+path, "VIRTUAL_ENV="+p.virtualenv)
}

func (h *languageHost) Handshake(
	_ context.Context, _ *pulumirpc.LanguageHandshakeRequest,
) (*pulumirpc.LanguageHandshakeResponse, error) {
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *languageHost) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version}, nil
}

// pluginPackage is a Python distribution that ships a resource plugin, as
// declared by the pulumi-plugin.json file in its top-level package.
type pluginPackage struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Server  string `json:"server"`
}

// listPlugins asks the program's interpreter which installed distributions
// carry a pulumi-plugin.json with "resource": true.
const listPluginsScript = `
import json, importlib.metadata as md
out = []
for dist in md.distributions():
    for f in dist.files or []:
        if f.name == "pulumi-plugin.json" and len(f.parts) == 2:
            try:
                data = json.loads(f.read_text())
            except Exception:
                continue
            if data.get("resource"):
                name = data.get("name") or dist.metadata["Name"].removeprefix("pulumi-").removeprefix("pulumi_")
                out.append({"name": name, "version": data.get("version") or dist.version, "server": data.get("server", "")})
print(json.dumps(out))
`

func (h *languageHost) listPlugins(ctx context.Context, info *pulumirpc.ProgramInfo) ([]pluginPackage, error) {
	py, err := resolvePython(info)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, py.exe, "-c", listPluginsScript)
	cmd.Env = py.env(os.Environ())
	if info != nil {
		cmd.Dir = info.GetProgramDirectory()
	}
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("listing Pulumi plugin packages with %s: %w", py.exe, err)
	}
	var pkgs []pluginPackage
	if err := json.Unmarshal(out, &pkgs); err != nil {
		return nil, fmt.Errorf("parsing plugin package list: %w", err)
	}
	return pkgs, nil
}

func semverTag(v string) string {
	if strings.HasPrefix(v, "v") {
		return v
	}
	return "v" + v
}

func (h *languageHost) GetRequiredPackages(
	ctx context.Context, req *pulumirpc.GetRequiredPackagesRequest,
) (*pulumirpc.GetRequiredPackagesResponse, error) {
	h.startWarm(req.GetInfo())
	pkgs, err := h.listPlugins(ctx, req.GetInfo())
	if err != nil {
		return nil, err
	}
	resp := &pulumirpc.GetRequiredPackagesResponse{}
	for _, p := range pkgs {
		resp.Packages = append(resp.Packages, &pulumirpc.PackageDependency{
			Name: p.Name, Kind: "resource", Version: semverTag(p.Version), Server: p.Server,
		})
	}
	return resp, nil
}

//nolint:staticcheck // deprecated RPC, still called by older engines.
func (h *languageHost) GetRequiredPlugins(
	ctx context.Context, req *pulumirpc.GetRequiredPluginsRequest,
) (*pulumirpc.GetRequiredPluginsResponse, error) {
	h.startWarm(req.GetInfo())
	pkgs, err := h.listPlugins(ctx, req.GetInfo())
	if err != nil {
		return nil, err
	}
	resp := &pulumirpc.GetRequiredPluginsResponse{}
	for _, p := range pkgs {
		resp.Plugins = append(resp.Plugins, &pulumirpc.PluginDependency{
			Name: p.Name, Kind: "resource", Version: semverTag(p.Version), Server: p.Server,
		})
	}
	return resp, nil
}

// Run executes the program through the upstream executor shim, which connects
// the Python SDK to the resource monitor and runs the program's __main__.
func (h *languageHost) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	py, err := resolvePython(req.GetInfo())
	if err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}
	args := []string{"-u", h.execShim}
	add := func(k, v string) {
		if v != "" {
			args = append(args, "--"+k, v)
		}
	}
	add("monitor", req.GetMonitorAddress())
	add("engine", h.engineAddress)
	add("project", req.GetProject())
	add("stack", req.GetStack())
	add("pwd", req.GetPwd())
	add("dry_run", fmt.Sprintf("%v", req.GetDryRun()))
	add("parallel", fmt.Sprint(req.GetParallel()))
	add("organization", req.GetOrganization())
	program := req.GetProgram()
	if info := req.GetInfo(); info != nil {
		add("root_directory", info.GetRootDirectory())
		program = filepath.Join(info.GetProgramDirectory(), info.GetEntryPoint())
	}
	if program == "" {
		program = "."
	}
	args = append(args, program)
	args = append(args, req.GetArgs()...)

	cfg := req.GetConfig()
	if cfg == nil {
		cfg = map[string]string{} // the SDK expects an object, never null
	}
	config, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("serializing configuration: %w", err)
	}
	secretKeys, err := json.Marshal(nonNil(req.GetConfigSecretKeys()))
	if err != nil {
		return nil, fmt.Errorf("serializing secret configuration keys: %w", err)
	}

	env := py.env(append(os.Environ(),
		"PULUMI_CONFIG="+string(config),
		"PULUMI_CONFIG_SECRET_KEYS="+string(secretKeys),
		"PYTHONUNBUFFERED=1",
	))
	if warm := h.takeWarm(py.exe); warm != nil {
		// The warm interpreter already runs with -u: it gets the shim and its arguments.
		if ran, err := warm.run(ctx, args[1:], env, req.GetPwd()); ran {
			return runResponse(err), nil
		}
		// The warm interpreter did not take the program (it ran none of it): run it cold.
	}
	cmd := exec.CommandContext(ctx, py.exe, args...)
	cmd.Dir = req.GetPwd()
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.Env = env
	return runResponse(cmd.Run()), nil
}

// runResponse maps how the program's interpreter exited to the engine's answer.
func runResponse(err error) *pulumirpc.RunResponse {
	if err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			if status, ok := exitErr.Sys().(syscall.WaitStatus); ok {
				if status.ExitStatus() == userActionableExit {
					return &pulumirpc.RunResponse{Bail: true}
				}
				return &pulumirpc.RunResponse{
					Error: fmt.Sprintf("Program exited with non-zero exit code: %d", status.ExitStatus()),
				}
			}
			return &pulumirpc.RunResponse{Error: fmt.Sprintf("Program exited unexpectedly: %v", exitErr)}
		}
		return &pulumirpc.RunResponse{
			Error: fmt.Sprintf("Problem executing program (could not run language executor): %v", err),
		}
	}
	return &pulumirpc.RunResponse{}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// RunPlugin runs a plugin written in Python. Policy packs (kind "analyzer")
// run as `python -m pulumi.policy <engine> <pack dir>`, which is what the
// pulumi SDK's policy entry point expects; other plugins run their directory.
func (h *languageHost) RunPlugin(
	req *pulumirpc.RunPluginRequest, server pulumirpc.LanguageRuntime_RunPluginServer,
) error {
	py, err := resolvePython(req.GetInfo())
	if err != nil {
		return err
	}
	dir := req.GetProgram()
	if info := req.GetInfo(); info != nil {
		dir = filepath.Join(info.GetProgramDirectory(), info.GetEntryPoint())
	}
	var args []string
	if req.GetKind() == "analyzer" {
		args = append([]string{"-u", "-m", "pulumi.policy"}, req.GetArgs()...)
		args = append(args, dir)
	} else {
		args = append([]string{"-u", dir}, req.GetArgs()...)
	}

	closer, stdout, stderr, err := rpcutil.MakeRunPluginStreams(server, false)
	if err != nil {
		return err
	}
	defer closer.Close()

	cmd := exec.CommandContext(server.Context(), py.exe, args...)
	cmd.Dir = req.GetPwd()
	cmd.Env = py.env(req.GetEnv())
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Run(); err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			if status, ok := exitErr.Sys().(syscall.WaitStatus); ok {
				return server.Send(&pulumirpc.RunPluginResponse{
					Output: &pulumirpc.RunPluginResponse_Exitcode{Exitcode: int32(status.ExitStatus())},
				})
			}
		}
		return fmt.Errorf("running python plugin %s: %w", dir, err)
	}
	return closer.Close()
}

// InstallDependencies creates the virtualenv named by the `virtualenv` option
// when it is missing and installs requirements.txt into it. (`make setup` is
// the documented way to install this project's pinned dependencies.)
func (h *languageHost) InstallDependencies(
	req *pulumirpc.InstallDependenciesRequest, server pulumirpc.LanguageRuntime_InstallDependenciesServer,
) error {
	info := req.GetInfo()
	send := func(b []byte, isErr bool) error {
		if isErr {
			return server.Send(&pulumirpc.InstallDependenciesResponse{Stderr: b})
		}
		return server.Send(&pulumirpc.InstallDependenciesResponse{Stdout: b})
	}
	venv := ""
	if info != nil && info.GetOptions() != nil {
		venv = info.GetOptions().GetFields()["virtualenv"].GetStringValue()
		if venv != "" && !filepath.IsAbs(venv) {
			venv = filepath.Join(info.GetRootDirectory(), venv)
		}
	}
	if venv == "" {
		return send([]byte("no virtualenv runtime option: dependencies are the interpreter's own\n"), false)
	}
	if _, err := os.Stat(filepath.Join(venv, "bin", "python")); err == nil {
		return send([]byte(fmt.Sprintf("virtualenv %s exists; `make setup` keeps it in step with pyproject.toml\n", venv)), false)
	}
	w := &streamWriter{send: send}
	steps := [][]string{{"python3", "-m", "venv", venv}}
	reqs := filepath.Join(info.GetProgramDirectory(), "requirements.txt")
	if _, err := os.Stat(reqs); err == nil {
		steps = append(steps, []string{filepath.Join(venv, "bin", "python"), "-m", "pip", "install", "-r", reqs})
	}
	for _, s := range steps {
		cmd := exec.CommandContext(server.Context(), s[0], s[1:]...)
		cmd.Dir = info.GetProgramDirectory()
		cmd.Stdout, cmd.Stderr = w, &streamWriter{send: send, isErr: true}
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%s: %w", strings.Join(s, " "), err)
		}
	}
	return nil
}

type streamWriter struct {
	send  func([]byte, bool) error
	isErr bool
}

func (w *streamWriter) Write(p []byte) (int, error) {
	b := append([]byte(nil), p...)
	if err := w.send(b, w.isErr); err != nil {
		return 0, err
	}
	return len(p), nil
}

var _ io.Writer = (*streamWriter)(nil)

func (h *languageHost) About(ctx context.Context, req *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	py, err := resolvePython(req.GetInfo())
	if err != nil {
		return nil, err
	}
	out, err := exec.CommandContext(ctx, py.exe, "--version").Output()
	if err != nil {
		return nil, fmt.Errorf("%s --version: %w", py.exe, err)
	}
	v := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(string(out)), "Python"))
	return &pulumirpc.AboutResponse{Executable: py.exe, Version: v}, nil
}

func (h *languageHost) GetProgramDependencies(
	ctx context.Context, req *pulumirpc.GetProgramDependenciesRequest,
) (*pulumirpc.GetProgramDependenciesResponse, error) {
	py, err := resolvePython(req.GetInfo())
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, py.exe, "-m", "pip", "list", "--format", "json")
	cmd.Env = py.env(os.Environ())
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("pip list: %w", err)
	}
	var pkgs []struct{ Name, Version string }
	if err := json.Unmarshal(out, &pkgs); err != nil {
		return nil, fmt.Errorf("parsing pip list: %w", err)
	}
	resp := &pulumirpc.GetProgramDependenciesResponse{}
	for _, p := range pkgs {
		resp.Dependencies = append(resp.Dependencies, &pulumirpc.DependencyInfo{Name: p.Name, Version: p.Version})
	}
	return resp, nil
}

func (h *languageHost) RuntimeOptionsPrompts(
	context.Context, *pulumirpc.RuntimeOptionsRequest,
) (*pulumirpc.RuntimeOptionsResponse, error) {
	return &pulumirpc.RuntimeOptionsResponse{}, nil
}
