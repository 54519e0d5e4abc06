"""The custom-image example stays in step with the package it builds on."""
from pathlib import Path

import yaml

import flowrun

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "custom-image"


def test_dockerfile_builds_on_this_versions_runner_image():
    froms = [line.split()[1] for line in (EXAMPLE / "Dockerfile").read_text().splitlines()
             if line.startswith("FROM ")]
    assert froms == [f"flowrun-runner:{flowrun.__version__}"]


def test_manifest_names_a_flow_the_image_contains():
    spec = yaml.safe_load((EXAMPLE / "flowrun.yaml").read_text())["spec"]
    module, _, function = spec["flow"].partition(":")
    path = EXAMPLE.joinpath(*module.split(".")).with_suffix(".py")
    assert path.exists() and f"def {function}(" in path.read_text()
