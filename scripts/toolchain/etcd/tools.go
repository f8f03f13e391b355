//go:build tools

// Package tools pins etcd's server (its main package is the module root) in this
// wrapper module; scripts/build-toolchain.sh builds it for the API-server tests.
package tools

import _ "go.etcd.io/etcd/server/v3"
