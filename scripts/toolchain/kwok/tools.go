//go:build tools

// Package tools pins kwok in this wrapper module; scripts/build-toolchain.sh
// builds it for the live test cluster, where it plays the kubelet of every
// simulated node (node heartbeats, pods Running and Ready, Jobs completing).
package tools

import _ "sigs.k8s.io/kwok/cmd/kwok"
