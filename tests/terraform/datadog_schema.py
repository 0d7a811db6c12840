"""An offline, argument-level schema check for the Datadog root module (docs/moto-gaps.md §The toolchain: only the AWS
provider is installed, so `terraform validate` cannot run on `datadog_monitor`).

Two halves:
- `extract`: at dev time, read the jsii type assembly inside the PyPI wheel `cdktf-cdktf-provider-datadog`
  (generated from the provider's own schema) and write a compact schema of the resources we use to
  terraform/datadog/provider-schema.json (committed). `make datadog-schema` runs it.
- `check`: parse the root's HCL with python-hcl2 and report every unknown argument or block and every
  missing required one, recursively, against that committed file. The test fails on any finding.

Usage: python tests/terraform/datadog_schema.py extract WHEEL OUT.json [resource ...]"""

from __future__ import annotations

import io
import json
import re
import sys
import tarfile
import zipfile
from pathlib import Path

DEFAULT_RESOURCES = ("datadog_monitor",)
META_ARGUMENTS = {"count", "for_each", "depends_on", "provider", "lifecycle", "provisioner", "connection"}
_ANCHOR = re.compile(r"registry\.terraform\.io/providers/datadog/datadog/([0-9.]+)/docs(?:/resources/(\w+))?#(\w+)")


# --- extract -----------------------------------------------------------------------------------------


def _assembly(wheel: Path) -> dict:
    with zipfile.ZipFile(wheel) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".jsii.tgz"))
        with tarfile.open(fileobj=io.BytesIO(zf.read(name))) as tf:
            return json.load(tf.extractfile("package/.jsii"))


def _struct_of(type_ref: dict) -> tuple[str | None, bool]:
    """(struct fqn, is_list) when a property is a nested block; (None, False) for an attribute."""
    if "fqn" in type_ref and not type_ref["fqn"].startswith("cdktf."):
        return type_ref["fqn"], False
    for member in type_ref.get("union", {}).get("types", []):
        coll = member.get("collection", {})
        elem = coll.get("elementtype", {})
        if coll.get("kind") == "array" and "fqn" in elem and not elem["fqn"].startswith("cdktf."):
            return elem["fqn"], True
    return None, False


def _kind(type_ref: dict) -> str:
    if "primitive" in type_ref:
        return {"boolean": "bool"}.get(type_ref["primitive"], type_ref["primitive"])
    if "collection" in type_ref:
        return "list" if type_ref["collection"]["kind"] == "array" else "map"
    for member in type_ref.get("union", {}).get("types", []):
        if "fqn" not in member or not member["fqn"].startswith("cdktf."):
            return _kind(member)
    return "any"


def _tf_name(prop: dict) -> str:
    m = _ANCHOR.search(prop.get("docs", {}).get("remarks", ""))
    if m:
        return m.group(3)
    return re.sub(r"(?<!^)(?=[A-Z])", "_", prop["name"]).lower()


def _struct(types: dict, fqn: str) -> dict:
    out = {"arguments": {}, "blocks": {}}
    for prop in types[fqn].get("properties", []):
        name = _tf_name(prop)
        if name == "id":
            continue  # computed; setting it is never what we mean
        nested, is_list = _struct_of(prop["type"])
        if nested:
            out["blocks"][name] = {
                "required": not prop.get("optional", False),
                "list": is_list,
                **_struct(types, nested),
            }
        else:
            out["arguments"][name] = {"required": not prop.get("optional", False), "type": _kind(prop["type"])}
    return out


def extract(wheel: Path, resources: tuple[str, ...] = DEFAULT_RESOURCES) -> dict:
    asm = _assembly(wheel)
    types = asm["types"]
    schema = {
        "source": f"PyPI {asm['name']} {asm['version']} (jsii assembly)",
        "provider_version": None,
        "resources": {},
    }
    for resource in resources:
        short = resource.removeprefix("datadog_")
        config = next(
            fqn
            for fqn in types
            if fqn.lower() == f"@cdktf/provider-datadog.{short.replace('_', '')}.{short.replace('_', '')}config"
            or fqn.endswith(f".{short}.{''.join(w.title() for w in short.split('_'))}Config")
        )
        schema["resources"][resource] = _struct(types, config)
        m = _ANCHOR.search(json.dumps(types[config]))
        schema["provider_version"] = m.group(1) if m else None
    schema["provider"] = _struct(types, "@cdktf/provider-datadog.provider.DatadogProviderConfig")
    return schema


# --- check -------------------------------------------------------------------------------------------


def _check_body(body: dict, spec: dict, where: str) -> list[str]:
    problems = []
    for key, value in body.items():
        if key in META_ARGUMENTS or key.startswith("__"):
            continue
        if key == "dynamic":
            for dyn in value:
                for name, dyn_body in dyn.items():
                    name = name.strip('"')
                    if name not in spec["blocks"]:
                        problems.append(f"{where}: unknown dynamic block {name!r}")
                    else:
                        problems += _check_body(
                            dyn_body.get("content", {})
                            if isinstance(dyn_body.get("content"), dict)
                            else (dyn_body.get("content") or [{}])[0],
                            spec["blocks"][name],
                            f"{where}.{name}",
                        )
            continue
        if key in spec["blocks"]:
            block = spec["blocks"][key]
            items = value if isinstance(value, list) else [value]
            if len(items) > 1 and not block["list"]:
                problems.append(f"{where}: block {key!r} may appear once")
            for item in items:
                problems += _check_body(item if isinstance(item, dict) else {}, block, f"{where}.{key}")
        elif key not in spec["arguments"]:
            problems.append(f"{where}: unknown argument {key!r}")
    present = set(body) | {name.strip('"') for dyn in body.get("dynamic", []) for name in dyn}
    for name, arg in spec["arguments"].items():
        if arg["required"] and name not in present:
            problems.append(f"{where}: missing required argument {name!r}")
    for name, block in spec["blocks"].items():
        if block["required"] and name not in present:
            problems.append(f"{where}: missing required block {name!r}")
    return problems


def check(parsed_files: dict[str, dict], schema: dict) -> list[str]:
    """Every finding in the parsed HCL (file name → python-hcl2 dict) against the schema."""
    problems = []
    for fname, doc in parsed_files.items():
        for resource in doc.get("resource", []):
            for rtype, instances in resource.items():
                rtype = rtype.strip('"')  # python-hcl2 ≥7 keeps block labels quoted
                if not rtype.startswith("datadog_"):
                    continue
                spec = schema["resources"].get(rtype)
                if spec is None:
                    problems.append(
                        f"{fname}: resource type {rtype!r} is not in the committed schema (add it with `make "
                        "datadog-schema`)"
                    )
                    continue
                for rname, body in instances.items():
                    rname = rname.strip('"')
                    problems += _check_body(body, spec, f"{fname}: {rtype}.{rname}")
        for provider in doc.get("provider", []):
            for pname, body in provider.items():
                if pname.strip('"') == "datadog":
                    problems += _check_body(
                        {k: v for k, v in body.items() if k != "alias"},
                        schema["provider"],
                        f"{fname}: provider datadog",
                    )
    return problems


if __name__ == "__main__":
    if len(sys.argv) < 4 or sys.argv[1] != "extract":
        sys.exit(__doc__.splitlines()[-1])
    result = extract(Path(sys.argv[2]), tuple(sys.argv[4:]) or DEFAULT_RESOURCES)
    Path(sys.argv[3]).write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    print(f"wrote {sys.argv[3]}: {', '.join(result['resources'])} from {result['source']}")
