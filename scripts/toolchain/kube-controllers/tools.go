//go:build tools

// Package tools pins kube-controller-manager and kube-scheduler in this wrapper
// module, at the same k8s.io/kubernetes version as kube-apiserver;
// scripts/build-toolchain.sh builds them for the live test cluster
// (namespace finalization, garbage collection, ReplicaSets, quota status,
// service-account tokens and scheduling are theirs).
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
)
