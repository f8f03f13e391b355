//go:build tools

// Package tools pins the Kyverno CLI's main package in this wrapper module so
// `go mod tidy` keeps its dependencies; scripts/build-toolchain.sh builds it.
// The CLI runs our ClusterPolicies against sample resources in the tests.
package tools

import _ "github.com/kyverno/kyverno/cmd/cli/kubectl-kyverno"
