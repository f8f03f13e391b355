// Command pulumi-resource-kubernetes serves the upstream pulumi-kubernetes
// provider. Upstream's own main package embeds two files that are generated
// by `go generate` and git-ignored, so they are missing from the module zip;
// this wrapper embeds the same two files, generated from the module's
// schema.json and terraform-mapping.json by scripts/build-toolchain.sh.
package main

import (
	_ "embed"

	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
)

//go:embed schema-embed.json
var pulumiSchema []byte

//go:embed terraform-mapping-embed.json
var terraformMapping []byte

func main() {
	provider.Serve("kubernetes", version.Version, pulumiSchema, terraformMapping)
}
