"""The local simulated cluster parts used by the live tests and `make sandbox`.

The live tests `pulumi up` the example stacks onto a local cluster. Modules here run
that cluster and what it needs; each says what it covers in its own docstring
(docs/testing.md: what is real and what is simulated).

The cluster and the stack:

* `sandbox.cluster`: etcd, kube-apiserver, kube-controller-manager, kube-scheduler
  and kwok on 127.0.0.1;
* `sandbox.nodes`: the tenant's simulated nodes (labels, taints, device-plugin
  capacity) from its stack config;
* `sandbox.fake_hosts`: stand-in SSH hosts that answer gpu-caas's kubeadm scripts;
* `sandbox.tenant`: stack config reading, node creation, Kamaji's controller;
* `sandbox.services`: everything a stack talks to besides the cluster, together;
* `sandbox.workspace`: a throwaway Pulumi project and backend running the real CLI;
* `python -m sandbox` (`__main__`): `make sandbox` / `make sandbox-down`.

Machines here reach no chart repository, so Helm releases install stand-in charts
from a local chart mirror:

* `sandbox.values_schema`: the values key rules shared by the test oracle
  (`tests.support.upstream.assert_values_keys_known`) and the stand-in charts'
  `values.schema.json`;
* `sandbox.documented_values`: per-chart values keys we set that the upstream
  values file does not show, with their sources;
* `sandbox.upstream`: the upstream reference files (upstream.lock.json), where the
  tests find them (`$GPU_CAAS_UPSTREAM_DIR`, `../shared`, the cache) and
  `make upstream`;
* `sandbox.upstream_copies`: which reference files in `../shared/crds` belong to
  which chart;
* `sandbox.helm_values`: what the kubernetes provider and Helm do to values
  before Helm validates them against a chart's schema;
* `sandbox.standin_charts`: builds the stand-in chart packages;
* `sandbox.chart_repository`: the Helm repository index and OCI artifacts for them;
* `sandbox.throwaway_ca`: a short-lived CA and server certificate for 127.0.0.1;
* `sandbox.chart_mirror`: serves all of it over HTTPS on 127.0.0.1.
"""
