"""What is generated from the Terraform sources, and the check that it is up to date.

- every module README's inputs/outputs tables, from its variables.tf and outputs.tf, between the
  `<!-- BEGIN_TF_DOCS -->` and `<!-- END_TF_DOCS -->` markers (terraform-docs' markers; it cannot be installed
  here, python-hcl2 can);
- every environment's outputs.tf (terraform/envs/{local,dev,prod}): the environment contract of
  docs/architecture.md, which is the pipeline module's outputs, forwarded one for one. An output of another
  module goes in a file of its own in the env (outputs.tf is rewritten).

    python scripts/tf_generate.py          # rewrite what is stale (`make tf-generate`)
    python scripts/tf_generate.py --check  # exit 1 and name what is stale (tests/terraform/test_generated.py)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TERRAFORM = ROOT / "terraform"
MODULES = TERRAFORM / "modules"
ENVS = ("local", "dev", "prod")
BEGIN, END = "<!-- BEGIN_TF_DOCS -->", "<!-- END_TF_DOCS -->"


def _parse(path: Path) -> dict:
    import hcl2
    from hcl2.utils import SerializationOptions

    if not path.exists():
        return {}
    # python-hcl2 8.x quotes strings and marks blocks unless told otherwise (docs/moto-gaps.md §The toolchain).
    opts = SerializationOptions(
        strip_string_quotes=True, explicit_blocks=False, with_comments=False, preserve_heredocs=False
    )
    with path.open() as f:
        return hcl2.load(f, serialization_options=opts)


def _blocks(doc: dict, kind: str) -> list[tuple[str, dict]]:
    return [(name, body) for block in doc.get(kind, []) for name, body in block.items()]


def module_blocks(module: Path, kind: str) -> list[tuple[str, dict]]:
    """The `kind` blocks (variable, output) of every .tf file of a module, shared files (links) included."""
    return [b for path in sorted(module.glob("*.tf")) for b in _blocks(_parse(path), kind)]


def _expr(value) -> str:
    """An HCL expression as written (python-hcl2 wraps them in ${...})."""
    if isinstance(value, str) and value.startswith("${") and value.endswith("}"):
        return value[2:-1]
    return json.dumps(value)


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def module_docs(module: Path) -> str:
    variables = module_blocks(module, "variable")
    outputs = module_blocks(module, "output")
    lines = [BEGIN, "## Inputs", "", "| Name | Description | Type | Default | Required |", "|---|---|---|---|:-:|"]
    for name, body in sorted(variables):
        default = f"`{_cell(_expr(body['default']))}`" if "default" in body else "n/a"
        kind = body.get("type", "any")
        kind = _cell(_expr(kind) if kind.startswith("${") else kind)
        lines.append(
            f"| `{name}` | {_cell(body.get('description', ''))} | `{kind}` | {default} | "
            f"{'no' if 'default' in body else 'yes'} |"
        )
    lines += ["", "## Outputs", "", "| Name | Description |", "|---|---|"]
    lines += [f"| `{name}` | {_cell(body.get('description', ''))} |" for name, body in sorted(outputs)]
    return "\n".join([*lines, END])


def readme_with_docs(text: str, docs: str) -> str:
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        return head + docs + rest.split(END, 1)[1]
    return text.rstrip("\n") + "\n\n" + docs + "\n"


def env_outputs() -> str:
    outputs = _blocks(_parse(MODULES / "pipeline" / "outputs.tf"), "output")
    parts = [
        "# The contract of docs/architecture.md: opsctl and the tests read these names.\n"
        "# Generated from terraform/modules/pipeline/outputs.tf by `make tf-generate`: edit that file, not this one."
    ]
    for name, body in outputs:  # in the pipeline module's order
        description = json.dumps(body.get("description", ""), ensure_ascii=False)
        block = [f'output "{name}" {{', f"  description = {description}"]
        block.append(f"  value       = module.pipeline.{name}")
        if body.get("sensitive") is True:
            block.append("  sensitive   = true")
        parts.append("\n".join([*block, "}"]))
    return "\n\n".join(parts) + "\n"


def expected() -> dict[Path, str]:
    """Every generated file and what it should hold."""
    files = {}
    for module in sorted(p for p in MODULES.iterdir() if (p / "variables.tf").exists() or (p / "outputs.tf").exists()):
        readme = module / "README.md"
        current = readme.read_text() if readme.exists() else f"# {module.name}\n"
        files[readme] = readme_with_docs(current, module_docs(module))
    contract = env_outputs()
    for env in ENVS:
        files[TERRAFORM / "envs" / env / "outputs.tf"] = contract
    return files


def stale() -> list[Path]:
    return [p for p, text in expected().items() if not p.exists() or p.read_text() != text]


def main(argv: list[str]) -> int:
    if argv == ["--check"]:
        out = stale()
        for path in out:
            print(f"stale: {path.relative_to(ROOT)} (run `make tf-generate`)", file=sys.stderr)
        return 1 if out else 0
    if argv:
        print("usage: python scripts/tf_generate.py [--check]", file=sys.stderr)
        return 2
    for path, text in expected().items():
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
