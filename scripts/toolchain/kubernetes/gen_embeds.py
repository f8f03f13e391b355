"""Write the two files upstream's `go generate` produces for the kubernetes provider.

Upstream git-ignores `schema-embed.json` and `terraform-mapping-embed.json`, so
they are not in the Go module zip. This does what upstream's generate.go does:
the schema with its version set, and the terraform mapping re-marshalled.

Usage: gen_embeds.py <module cmd dir> <version> <output dir>
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(src: Path, version: str, out: Path) -> None:
    schema = json.loads((src / "schema.json").read_text())
    schema["version"] = version
    (out / "schema-embed.json").write_text(json.dumps(schema, separators=(",", ":")))
    mapping = json.loads((src / "terraform-mapping.json").read_text())
    (out / "terraform-mapping-embed.json").write_text(json.dumps(mapping, separators=(",", ":")))


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3]))
