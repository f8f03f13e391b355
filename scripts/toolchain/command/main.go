// Command pulumi-resource-command implements the `command:local:Command` and
// `command:remote:Command` resources of the pulumi-command package, for
// machines that cannot fetch the upstream provider (its Go module is not on
// the module proxy this project reaches). See README.md beside this file for
// the supported inputs and how they differ from upstream.
//
// Semantics follow pulumi-command v1:
//   - a change to `triggers` replaces the resource; a change to any other input
//     updates it, running `update` (or `create` when `update` is empty);
//   - `delete` runs on delete; `addPreviousOutputInEnv` (default true) passes
//     the previous stdout/stderr as PULUMI_COMMAND_STDOUT/PULUMI_COMMAND_STDERR;
//   - outputs are the inputs plus `stdout` and `stderr`.
//
// Secrets: inputs keep their secret markers in state; when any input is
// secret, `stdout` and `stderr` are secret too, and command output is not
// copied into error messages (it may hold a kubeconfig or a token) except the
// stderr lines a script prefixes `gpu-caas: ` for the user, screened for secret
// values (userlines.go).
package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/provider"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
)

// version is set at build time (-X main.version=...).
var version = "1.2.1"

const (
	localCommand  = "command:local:Command"
	remoteCommand = "command:remote:Command"
)

func main() {
	err := provider.Main("command", func(host *provider.HostClient) (pulumirpc.ResourceProviderServer, error) {
		return &commandProvider{host: host}, nil
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-resource-command: %v\n", err)
		os.Exit(1)
	}
}

type commandProvider struct {
	pulumirpc.UnimplementedResourceProviderServer
	host *provider.HostClient
}

var marshalOpts = plugin.MarshalOptions{KeepUnknowns: true, KeepSecrets: true, SkipNulls: true}

func unmarshal(s *structpb.Struct) (resource.PropertyMap, error) {
	if s == nil {
		return resource.PropertyMap{}, nil
	}
	return plugin.UnmarshalProperties(s, marshalOpts)
}

func marshal(m resource.PropertyMap) (*structpb.Struct, error) {
	return plugin.MarshalProperties(m, marshalOpts)
}

func (p *commandProvider) Handshake(
	context.Context, *pulumirpc.ProviderHandshakeRequest,
) (*pulumirpc.ProviderHandshakeResponse, error) {
	return &pulumirpc.ProviderHandshakeResponse{AcceptSecrets: true, AcceptResources: true}, nil
}

func (p *commandProvider) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version}, nil
}

func (p *commandProvider) GetSchema(context.Context, *pulumirpc.GetSchemaRequest) (*pulumirpc.GetSchemaResponse, error) {
	return &pulumirpc.GetSchemaResponse{Schema: fmt.Sprintf(`{"name":"command","version":%q}`, version)}, nil
}

func (p *commandProvider) CheckConfig(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	return &pulumirpc.CheckResponse{Inputs: req.GetNews()}, nil
}

func (p *commandProvider) DiffConfig(context.Context, *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_NONE}, nil
}

func (p *commandProvider) Configure(context.Context, *pulumirpc.ConfigureRequest) (*pulumirpc.ConfigureResponse, error) {
	return &pulumirpc.ConfigureResponse{AcceptSecrets: true, SupportsPreview: true, AcceptResources: true}, nil
}

// knownInputs lists the inputs each resource accepts; anything else is a
// check failure (an unknown input would otherwise be silently ignored).
var knownInputs = map[string]map[string]bool{
	localCommand: {
		"create": true, "update": true, "delete": true, "environment": true, "stdin": true,
		"triggers": true, "dir": true, "interpreter": true, "addPreviousOutputInEnv": true,
	},
	remoteCommand: {
		"create": true, "update": true, "delete": true, "environment": true, "stdin": true,
		"triggers": true, "connection": true, "addPreviousOutputInEnv": true,
	},
}

var knownConnection = map[string]bool{
	"host": true, "port": true, "user": true, "privateKey": true, "password": true,
	"dialErrorLimit": true, "perDialTimeout": true,
}

func (p *commandProvider) Check(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	news, err := unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	typ := resource.URN(req.GetUrn()).Type().String()
	allowed, ok := knownInputs[typ]
	if !ok {
		return nil, fmt.Errorf("unsupported resource type %s (this provider implements %s and %s)",
			typ, localCommand, remoteCommand)
	}
	var failures []*pulumirpc.CheckFailure
	fail := func(prop, reason string) {
		failures = append(failures, &pulumirpc.CheckFailure{Property: prop, Reason: reason})
	}
	for k := range news {
		if !allowed[string(k)] {
			fail(string(k), fmt.Sprintf("unsupported input %q for %s", k, typ))
		}
	}
	if typ == remoteCommand {
		conn, ok := news["connection"]
		switch {
		case !ok:
			fail("connection", "connection is required")
		case conn.IsComputed() || conn.IsOutput():
		default:
			c := unwrap(conn)
			if c.IsObject() {
				for k := range c.ObjectValue() {
					if !knownConnection[string(k)] {
						fail("connection."+string(k), fmt.Sprintf("unsupported connection input %q", k))
					}
				}
				if h, ok := c.ObjectValue()["host"]; !ok || (h.IsString() && h.StringValue() == "") {
					fail("connection.host", "connection.host is required")
				}
			}
		}
	}
	return &pulumirpc.CheckResponse{Inputs: req.GetNews(), Failures: failures}, nil
}

// unwrap strips secret markers (the value is still handled as secret elsewhere).
func unwrap(v resource.PropertyValue) resource.PropertyValue {
	for v.IsSecret() {
		v = v.SecretValue().Element
	}
	return v
}

func (p *commandProvider) Diff(_ context.Context, req *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	olds, err := unmarshal(req.GetOldInputs())
	if err != nil {
		return nil, err
	}
	if len(olds) == 0 { // states written before OldInputs existed: outputs minus stdout/stderr
		if olds, err = unmarshal(req.GetOlds()); err != nil {
			return nil, err
		}
		delete(olds, "stdout")
		delete(olds, "stderr")
	}
	news, err := unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	diff := olds.Diff(news)
	if diff == nil || !diff.AnyChanges() {
		return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_NONE}, nil
	}
	var diffs, replaces []string
	for _, k := range diff.ChangedKeys() {
		diffs = append(diffs, string(k))
		if k == "triggers" {
			replaces = append(replaces, string(k))
		}
	}
	return &pulumirpc.DiffResponse{
		Changes:  pulumirpc.DiffResponse_DIFF_SOME,
		Diffs:    diffs,
		Replaces: replaces,
	}, nil
}

// anySecret reports whether any value in m is (or contains) a secret.
func anySecret(m resource.PropertyMap) bool {
	for _, v := range m {
		if v.ContainsSecrets() {
			return true
		}
	}
	return false
}

// withOutputs returns inputs plus stdout/stderr, secret when any input is.
func withOutputs(inputs resource.PropertyMap, res runResult, known bool) resource.PropertyMap {
	out := inputs.Copy()
	wrap := func(s string) resource.PropertyValue {
		v := resource.NewStringProperty(s)
		if !known {
			v = resource.MakeComputed(resource.NewStringProperty(""))
		}
		if anySecret(inputs) {
			v = resource.MakeSecret(v)
		}
		return v
	}
	out["stdout"] = wrap(res.stdout)
	out["stderr"] = wrap(res.stderr)
	return out
}

func (p *commandProvider) Create(ctx context.Context, req *pulumirpc.CreateRequest) (*pulumirpc.CreateResponse, error) {
	inputs, err := unmarshal(req.GetProperties())
	if err != nil {
		return nil, err
	}
	urn := resource.URN(req.GetUrn())
	id := urn.Name() + "-" + randomSuffix()
	if req.GetPreview() {
		props, err := marshal(withOutputs(inputs, runResult{}, false))
		return &pulumirpc.CreateResponse{Id: id, Properties: props}, err
	}
	res, err := p.run(ctx, urn, inputs, "create", nil)
	if err != nil {
		return nil, err
	}
	props, err := marshal(withOutputs(inputs, res, true))
	return &pulumirpc.CreateResponse{Id: id, Properties: props}, err
}

func (p *commandProvider) Update(ctx context.Context, req *pulumirpc.UpdateRequest) (*pulumirpc.UpdateResponse, error) {
	news, err := unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	olds, err := unmarshal(req.GetOlds())
	if err != nil {
		return nil, err
	}
	if req.GetPreview() {
		props, err := marshal(withOutputs(news, runResult{}, false))
		return &pulumirpc.UpdateResponse{Properties: props}, err
	}
	step := "update"
	if s, ok := stringInput(news, "update"); !ok || s == "" {
		step = "create"
	}
	res, err := p.run(ctx, resource.URN(req.GetUrn()), news, step, olds)
	if err != nil {
		return nil, err
	}
	props, err := marshal(withOutputs(news, res, true))
	return &pulumirpc.UpdateResponse{Properties: props}, err
}

func (p *commandProvider) Delete(ctx context.Context, req *pulumirpc.DeleteRequest) (*emptypb.Empty, error) {
	state, err := unmarshal(req.GetProperties())
	if err != nil {
		return nil, err
	}
	if s, ok := stringInput(state, "delete"); ok && s != "" {
		if _, err := p.run(ctx, resource.URN(req.GetUrn()), state, "delete", state); err != nil {
			return nil, err
		}
	}
	return &emptypb.Empty{}, nil
}

func (p *commandProvider) Read(_ context.Context, req *pulumirpc.ReadRequest) (*pulumirpc.ReadResponse, error) {
	// A command has no remote state to read back: refresh keeps what we recorded.
	return &pulumirpc.ReadResponse{Id: req.GetId(), Properties: req.GetProperties(), Inputs: req.GetInputs()}, nil
}

func stringInput(m resource.PropertyMap, key resource.PropertyKey) (string, bool) {
	v, ok := m[key]
	if !ok {
		return "", false
	}
	v = unwrap(v)
	if !v.IsString() {
		return "", false
	}
	return v.StringValue(), true
}

// run executes the step's command. previous holds the prior outputs for
// addPreviousOutputInEnv (nil on create).
func (p *commandProvider) run(
	ctx context.Context, urn resource.URN, inputs resource.PropertyMap, step string, previous resource.PropertyMap,
) (runResult, error) {
	command, _ := stringInput(inputs, resource.PropertyKey(step))
	if command == "" {
		return runResult{}, nil
	}
	spec := runSpec{command: command, env: map[string]string{}}
	if envs, ok := inputs["environment"]; ok && unwrap(envs).IsObject() {
		for k, v := range unwrap(envs).ObjectValue() {
			spec.env[string(k)] = unwrap(v).StringValue()
		}
	}
	addPrev := true
	if v, ok := inputs["addPreviousOutputInEnv"]; ok && unwrap(v).IsBool() {
		addPrev = unwrap(v).BoolValue()
	}
	if addPrev && previous != nil {
		out, _ := stringInput(previous, "stdout")
		errOut, _ := stringInput(previous, "stderr")
		spec.env["PULUMI_COMMAND_STDOUT"] = out
		spec.env["PULUMI_COMMAND_STDERR"] = errOut
	}
	spec.stdin, _ = stringInput(inputs, "stdin")
	secret := anySecret(inputs)

	var res runResult
	var err error
	switch urn.Type().String() {
	case localCommand:
		spec.dir, _ = stringInput(inputs, "dir")
		if v, ok := inputs["interpreter"]; ok && unwrap(v).IsArray() {
			for _, a := range unwrap(v).ArrayValue() {
				spec.interpreter = append(spec.interpreter, unwrap(a).StringValue())
			}
		}
		res, err = runLocal(ctx, spec)
	case remoteCommand:
		conn, cerr := parseConnection(inputs["connection"])
		if cerr != nil {
			return runResult{}, cerr
		}
		res, err = runRemote(ctx, conn, spec)
	default:
		return runResult{}, fmt.Errorf("unsupported resource type %s", urn.Type())
	}
	if err != nil {
		if secret {
			// Only the script's own `gpu-caas: ` lines, screened for secrets (userlines.go).
			return res, withheldError(step, urn.Name(), err, res.stderr, secretStrings(inputs))
		}
		return res, fmt.Errorf("%s command of %s failed: %v\nstdout:\n%s\nstderr:\n%s",
			step, urn.Name(), err, tail(res.stdout), tail(res.stderr))
	}
	return res, nil
}

func tail(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > 40 {
		lines = lines[len(lines)-40:]
	}
	return strings.Join(lines, "\n")
}
