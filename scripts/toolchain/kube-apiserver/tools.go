//go:build tools

// Package tools pins kube-apiserver in this wrapper module;
// scripts/build-toolchain.sh builds it for the API-server tests.
package tools

import _ "k8s.io/kubernetes/cmd/kube-apiserver"
