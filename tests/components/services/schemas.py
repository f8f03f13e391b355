"""Small strict JSON schemas for custom resources whose CRDs are not in ../shared/crds.

Each schema covers only the fields our components set, with unknown fields rejected,
so a typo in a field name fails a test the way the upstream CRD would prune it.

* PrometheusRule (monitoring.coreos.com/v1): fields from the Prometheus Operator API
  reference, https://prometheus-operator.dev/docs/api-reference/api/#monitoring.coreos.com/v1.PrometheusRuleSpec
  (`groups[].name`, `groups[].rules[].alert|expr|for|labels|annotations`).
* NodeHealthCheck (remediation.medik8s.io/v1alpha1): from medik8s/node-healthcheck-operator
  config/crd/bases/remediation.medik8s.io_nodehealthchecks.yaml @00da759e (selector,
  minHealthy, unhealthyConditions, remediationTemplate, pauseRequests).
* MachineDeletionRemediationTemplate: medik8s/machine-deletion-remediation README
  (`spec.template.spec`, empty).
"""

from __future__ import annotations

from typing import Any

import jsonschema

_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
_DURATION = {"type": "string", "pattern": r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$"}
_PROM_DURATION = {"type": "string", "pattern": r"^(([0-9]+)(y|w|d|h|m|s|ms))+$"}

PROMETHEUS_RULE_SPEC: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["groups"],
    "properties": {
        "groups": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name", "rules"],
                "properties": {
                    "name": {"type": "string", "minLength": 1},
                    "interval": _PROM_DURATION,
                    "rules": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["alert", "expr"],
                            "properties": {
                                "alert": {"type": "string", "pattern": r"^[A-Za-z][A-Za-z0-9_]*$"},
                                "expr": {"type": "string", "minLength": 1},
                                "for": _PROM_DURATION,
                                "labels": _STRING_MAP,
                                "annotations": _STRING_MAP,
                            },
                        },
                    },
                },
            },
        }
    },
}

_OBJECT_REFERENCE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["apiVersion", "kind", "name", "namespace"],
    "properties": {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "name": {"type": "string"},
        "namespace": {"type": "string"},
    },
}

NODE_HEALTH_CHECK_SPEC: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["selector", "remediationTemplate"],
    "properties": {
        "selector": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "matchLabels": _STRING_MAP,
                "matchExpressions": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["key", "operator"],
                        "properties": {
                            "key": {"type": "string"},
                            "operator": {"enum": ["In", "NotIn", "Exists", "DoesNotExist"]},
                            "values": {"type": "array", "items": {"type": "string"}},
                        },
                    },
                },
            },
        },
        "minHealthy": {
            "anyOf": [
                {"type": "integer"},
                {"type": "string", "pattern": r"^((100|[0-9]{1,2})%|[0-9]+)$"},
            ]
        },
        "unhealthyConditions": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["type", "status", "duration"],
                "properties": {
                    "type": {"type": "string", "minLength": 1},
                    "status": {"type": "string", "minLength": 1},
                    "duration": _DURATION,
                },
            },
        },
        "remediationTemplate": _OBJECT_REFERENCE,
        "pauseRequests": {"type": "array", "items": {"type": "string"}},
    },
}

MACHINE_DELETION_TEMPLATE_SPEC: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["template"],
    "properties": {
        "template": {
            "type": "object",
            "additionalProperties": False,
            "required": ["spec"],
            "properties": {"spec": {"type": "object", "additionalProperties": False}},
        }
    },
}


def validate(spec: Any, schema: dict[str, Any]) -> None:
    """Assert `spec` matches `schema`, listing every error with its path."""
    errors = sorted(
        f"{'.'.join(str(p) for p in error.absolute_path) or '.'}: {error.message}"
        for error in jsonschema.Draft7Validator(schema).iter_errors(spec)
    )
    assert not errors, "\n".join(errors)
