"""What scripts/tf_generate.py makes from the .tf files is committed up to date: every module README's
inputs/outputs tables, and the environments' outputs.tf (the pipeline module's outputs, the contract of
docs/architecture.md). A change to a variable or an output without `make tf-generate` fails here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import tf_generate  # noqa: E402 - a script, not a package


def test_nothing_generated_is_stale():
    proc = subprocess.run(
        [sys.executable, "scripts/tf_generate.py", "--check"], cwd=ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr


def test_every_module_variable_and_output_is_in_its_readme():
    for module in sorted(p for p in tf_generate.MODULES.iterdir() if (p / "variables.tf").exists()):
        readme = (module / "README.md").read_text()
        names = [n for n, _ in tf_generate.module_blocks(module, "variable")]
        names += [n for n, _ in tf_generate.module_blocks(module, "output")]
        assert all(f"| `{n}` |" in readme for n in names), module.name


def test_env_outputs_forward_every_pipeline_output(tmp_path):
    text = tf_generate.env_outputs()
    outputs = tf_generate._blocks(tf_generate._parse(tf_generate.MODULES / "pipeline" / "outputs.tf"), "output")
    assert len(outputs) > 30
    assert all(f'output "{n}" {{' in text and f"module.pipeline.{n}\n" in text for n, _ in outputs)
    # The staleness check really fails on a hand edit.
    stale_readme = tmp_path / "README.md"
    stale_readme.write_text(tf_generate.readme_with_docs("# x\n", "<!-- BEGIN_TF_DOCS -->\nold\n<!-- END_TF_DOCS -->"))
    assert "old" in stale_readme.read_text()
    assert tf_generate.readme_with_docs(stale_readme.read_text(), "NEW") == "# x\n\nNEW\n"
