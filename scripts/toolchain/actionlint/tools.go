//go:build tools

// Package tools pins actionlint in this wrapper module; scripts/build-toolchain.sh
// builds it as a test tool, and the tests run it on every workflow under
// .github/workflows (tests/github/test_workflows.py).
package tools

import _ "github.com/rhysd/actionlint/cmd/actionlint"
