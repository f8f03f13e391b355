package main

// The warm start: the program's interpreter is started, and the modules the
// project names in its `preload` runtime option are imported, while the engine
// is still starting the policy packs (one after the other, about half a second
// each); the first Run hands that interpreter the program instead of starting
// a new one. What the program then runs is what the cold path runs: the same
// interpreter and flags, the executor shim with the same arguments, the same
// working directory, environment and stdout/stderr, the program's directory
// first on sys.path. Only the preloaded modules are already imported (before
// the stack's configuration exists: a module that reads the configuration when
// imported must not be preloaded).
//
//	runtime:
//	  name: python
//	  options:
//	    virtualenv: .venv
//	    preload: [stacks.warm_start]   # modules, imported in this order
//
// A preload that fails (an ImportError, an exception) is dropped silently: the
// program imports the module itself and reports the error as a cold start
// would. An interpreter that is gone before Run (killed, crashed) is replaced
// by a cold start. A second Run in the same host starts cold. When the host
// exits, the interpreter reads end-of-file instead of a program and exits; an
// interrupt before the program arrives (the engine stopping its plugins after a
// `pulumi destroy`, which runs no program) ends it quietly.

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"

	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// warmBootstrap runs in the warm interpreter: argv is [shim, program
// directory, module...]; stdin carries the Run as JSON {argv, env, cwd}.
const warmBootstrap = `
import importlib, json, os, runpy, signal, sys
# Until the program arrives, an interrupt (the engine stopping its plugins) ends
# the interpreter quietly; the program gets Python's usual KeyboardInterrupt.
signal.signal(signal.SIGINT, signal.SIG_DFL)
shim, program_dir, modules = sys.argv[1], sys.argv[2], sys.argv[3:]
sys.path.insert(0, program_dir)
try:
    for module in modules:
        importlib.import_module(module)
except BaseException:
    pass  # the program imports it again and reports the error itself
sys.path.remove(program_dir)
request = sys.stdin.buffer.read()
if not request:
    sys.exit(0)  # the host exited without a Run
run = json.loads(request)
signal.signal(signal.SIGINT, signal.default_int_handler)
null = os.open(os.devnull, os.O_RDONLY)
os.dup2(null, 0)
os.close(null)
os.chdir(run["cwd"])
os.environ.clear()
os.environ.update(run["env"])
sys.argv = run["argv"]
sys.path[0] = os.path.dirname(os.path.abspath(run["argv"][0]))
runpy.run_path(run["argv"][0], run_name="__main__")
`

// warmProgram is a started interpreter waiting for its program on stdin.
type warmProgram struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	exe   string
	dir   string
}

// preloadModules reads the `preload` runtime option: module names, or nil.
func preloadModules(info *pulumirpc.ProgramInfo) []string {
	if info == nil || info.GetOptions() == nil {
		return nil
	}
	value, ok := info.GetOptions().GetFields()["preload"]
	if !ok {
		return nil
	}
	var modules []string
	for _, v := range value.GetListValue().GetValues() {
		if name := v.GetStringValue(); name != "" {
			modules = append(modules, name)
		}
	}
	return modules
}

// startWarm starts the warm interpreter once per host, when the project
// preloads modules. Errors leave the host on cold starts.
func (h *languageHost) startWarm(info *pulumirpc.ProgramInfo) {
	modules := preloadModules(info)
	h.warmMu.Lock()
	defer h.warmMu.Unlock()
	if h.warmStarted || len(modules) == 0 {
		return
	}
	h.warmStarted = true
	py, err := resolvePython(info)
	if err != nil {
		return
	}
	dir := info.GetRootDirectory()
	cmd := exec.Command(py.exe, append([]string{"-u", "-c", warmBootstrap, h.execShim, info.GetProgramDirectory()}, modules...)...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.Env = py.env(append(os.Environ(), "PYTHONUNBUFFERED=1"))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return
	}
	if err := cmd.Start(); err != nil {
		return
	}
	h.warm = &warmProgram{cmd: cmd, stdin: stdin, exe: py.exe, dir: dir}
}

// takeWarm hands out the warm interpreter if it runs `exe` in `dir` (what the
// cold path would start); any other is stopped. Nil: start cold.
func (h *languageHost) takeWarm(exe, dir string) *warmProgram {
	h.warmMu.Lock()
	defer h.warmMu.Unlock()
	h.warmStarted = true // a later GetRequiredPackages starts no other
	warm := h.warm
	h.warm = nil
	if warm == nil {
		return nil
	}
	if warm.exe != exe || warm.dir != dir {
		warm.discard()
		return nil
	}
	return warm
}

// run sends the program to the warm interpreter and waits for it. ran is false
// when the interpreter was gone before it got the program.
func (w *warmProgram) run(ctx context.Context, argv, env []string) (ran bool, err error) {
	request, err := json.Marshal(map[string]any{"argv": argv, "env": envMap(env), "cwd": w.dir})
	if err != nil {
		w.discard()
		return false, nil
	}
	if _, err := w.stdin.Write(request); err != nil {
		w.discard()
		return false, nil
	}
	if err := w.stdin.Close(); err != nil {
		w.discard()
		return false, nil
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			_ = w.cmd.Process.Kill()
		case <-done:
		}
	}()
	err = w.cmd.Wait()
	return true, err
}

// discard stops an interpreter that will not run a program.
func (w *warmProgram) discard() {
	_ = w.stdin.Close()
	_ = w.cmd.Process.Kill()
	_ = w.cmd.Wait()
}

// envMap turns KEY=VALUE entries into a map; a later entry wins, as in exec.
func envMap(env []string) map[string]string {
	out := make(map[string]string, len(env))
	for _, kv := range env {
		for i := 0; i < len(kv); i++ {
			if kv[i] == '=' {
				out[kv[:i]] = kv[i+1:]
				break
			}
		}
	}
	return out
}
