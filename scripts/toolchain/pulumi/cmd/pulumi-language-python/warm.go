package main

// The warm start: the program's interpreter is started, and the modules the
// project names in its `preload` runtime option are imported, while the engine
// is still starting the policy packs (one after the other, about half a second
// each); the first Run hands that interpreter the program instead of starting
// a new one. The program then runs as on the cold path: the same interpreter
// and flags, the executor shim with the same arguments, the same working
// directory, environment (the stack's configuration included), stdin
// (/dev/null), stdout and stderr, the program's directory first on sys.path.
// Only the preloaded modules are already imported, before the stack's
// configuration exists.
//
//	runtime:
//	  name: python
//	  options:
//	    virtualenv: .venv
//	    preload: [stacks.warm_start]   # modules (or one name), imported in this order
//
// What a preloaded module may do when imported: define things and import
// others. It must not read the configuration or talk to the engine (neither
// exists yet), nor have effects outside the process: commands that run no
// program (`pulumi destroy`, `refresh`, `about`) ask for the program's
// packages too, and so import the preloads. What a preload prints is held
// until the program arrives, then written out; without a program it is
// dropped. A module whose import fails is dropped (the program imports it
// again and reports the error as a cold start would, printing what it prints
// twice); the modules after it are still imported.
//
// The program travels on its own channel (fd 3 in the interpreter), not on
// stdin, and the interpreter acknowledges it before running it: an interpreter
// that exits without the acknowledgement (killed, crashed, the channel broken
// by a preload) has run nothing, and Run starts the program cold. A second Run
// in the same host starts cold. When the host exits, the interpreter reads
// end-of-file instead of a program and exits; an interrupt before the program
// arrives (the engine stopping its plugins) ends it quietly.

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"

	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// warmBootstrap runs in the warm interpreter: argv is [shim, program
// directory, module...]; fd 3 carries the Run as JSON {argv, env, cwd}, and
// the acknowledgement back.
const warmBootstrap = `
import importlib, json, os, runpy, signal, socket, sys, tempfile
signal.signal(signal.SIGINT, signal.SIG_DFL)
shim, program_dir, modules = sys.argv[1], sys.argv[2], sys.argv[3:]
channel = socket.socket(fileno=3)
saved = [os.dup(1), os.dup(2)]
held = [tempfile.TemporaryFile(), tempfile.TemporaryFile()]
for fd, f in zip((1, 2), held):
    os.dup2(f.fileno(), fd)
sys.path[0] = program_dir
for module in modules:
    try:
        importlib.import_module(module)
    except BaseException:
        pass  # the program imports it again and reports the error itself
chunks = []
while True:
    chunk = channel.recv(1 << 16)
    if not chunk:
        break
    chunks.append(chunk)
if not chunks:
    sys.exit(0)  # the host exited without a Run
run = json.loads(b"".join(chunks))
channel.sendall(b"1")
channel.close()
signal.signal(signal.SIGINT, signal.default_int_handler)
for fd, f, copy in zip((1, 2), held, saved):
    os.dup2(copy, fd)
    os.close(copy)
    f.seek(0)
    data = f.read()
    while data:
        data = data[os.write(fd, data):]
    f.close()
os.chdir(run["cwd"])
os.environ.clear()
os.environ.update(run["env"])
sys.argv = run["argv"]
sys.path[0] = os.path.dirname(os.path.abspath(run["argv"][0]))
runpy.run_path(run["argv"][0], run_name="__main__")
`

// warmProgram is a started interpreter waiting for its program on channel.
type warmProgram struct {
	cmd     *exec.Cmd
	channel *net.UnixConn
	exe     string
}

// preloadModules reads the `preload` runtime option: a list of module names
// or one name; nil without it.
func preloadModules(info *pulumirpc.ProgramInfo) []string {
	if info == nil || info.GetOptions() == nil {
		return nil
	}
	value, ok := info.GetOptions().GetFields()["preload"]
	if !ok {
		return nil
	}
	if name := value.GetStringValue(); name != "" {
		return []string{name}
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
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return
	}
	ours, theirs := os.NewFile(uintptr(fds[0]), "warm-channel"), os.NewFile(uintptr(fds[1]), "warm-channel")
	defer func() { _ = ours.Close() }()
	defer func() { _ = theirs.Close() }()
	conn, err := net.FileConn(ours)
	if err != nil {
		return
	}
	channel, ok := conn.(*net.UnixConn)
	if !ok {
		_ = conn.Close()
		return
	}
	args := append([]string{"-u", "-c", warmBootstrap, h.execShim, info.GetProgramDirectory()}, modules...)
	cmd := exec.Command(py.exe, args...)
	cmd.Dir = info.GetRootDirectory()
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.ExtraFiles = []*os.File{theirs} // fd 3
	cmd.Env = py.env(append(os.Environ(), "PYTHONUNBUFFERED=1"))
	if err := cmd.Start(); err != nil {
		_ = channel.Close()
		return
	}
	h.warm = &warmProgram{cmd: cmd, channel: channel, exe: py.exe}
}

// takeWarm hands out the warm interpreter if it runs `exe` (what the cold path
// would start); any other is stopped. Nil: start cold.
func (h *languageHost) takeWarm(exe string) *warmProgram {
	h.warmMu.Lock()
	defer h.warmMu.Unlock()
	h.warmStarted = true // a later GetRequiredPackages starts no other
	warm := h.warm
	h.warm = nil
	if warm == nil {
		return nil
	}
	if warm.exe != exe {
		warm.discard()
		return nil
	}
	return warm
}

// run sends the program to the warm interpreter and, once it has acknowledged
// it, waits for it. ran is false when the interpreter did not take the program
// (it has run nothing of it).
func (w *warmProgram) run(ctx context.Context, argv, env []string, dir string) (ran bool, err error) {
	request, err := json.Marshal(map[string]any{"argv": argv, "env": envMap(env), "cwd": dir})
	if err != nil {
		w.discard()
		return false, nil
	}
	ack := make([]byte, 1)
	if _, err := w.channel.Write(request); err != nil {
		w.discard()
		return false, nil
	}
	if err := w.channel.CloseWrite(); err != nil {
		w.discard()
		return false, nil
	}
	if _, err := io.ReadFull(w.channel, ack); err != nil || ack[0] != '1' {
		w.discard()
		return false, nil
	}
	_ = w.channel.Close()
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
	_ = w.channel.Close()
	_ = w.cmd.Process.Kill()
	_ = w.cmd.Wait()
}

// envMap turns KEY=VALUE entries into a map; a later entry wins, as in exec.
func envMap(env []string) map[string]string {
	out := make(map[string]string, len(env))
	for _, kv := range env {
		if key, value, ok := strings.Cut(kv, "="); ok {
			out[key] = value
		}
	}
	return out
}
