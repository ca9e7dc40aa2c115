"""Installed as a user installs it: the wheel, run from a Prefect project with its own flows/.

The wheel puts only ``prefect_image_pipeline`` on the path, so a project's own ``flows`` and
``blocks`` packages stay theirs, and ``process-image`` runs from among them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.paths import REPO, SAMPLE

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    uv = shutil.which("uv")
    assert uv, "uv builds the wheel (.ci/run installs it)"
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([uv, "build", "--wheel", "-o", str(out), str(REPO)], check=True, timeout=300)
    (built,) = out.glob("*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel installed; its dependencies are this venv's (no network)."""
    root = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    site = Path(sysconfig.get_path("purelib", vars={"base": str(root), "platbase": str(root)}))
    # A path in a .pth file is added as is: this venv's editable install of the project
    # (its own .pth inside that folder) is not, so the wheel's copy is the one imported.
    (site / "_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    uv = shutil.which("uv") or "uv"
    subprocess.run(
        [uv, "pip", "install", "--no-deps", "--python", str(root / "bin" / "python"), str(wheel)],
        check=True,
        timeout=300,
    )
    return root


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A Prefect project of the user's own: flows/ and blocks/ packages, and an image."""
    folder = tmp_path / "project"
    for package in ("flows", "blocks"):
        (folder / package).mkdir(parents=True)
        (folder / package / "__init__.py").write_text(f'MARK = "the user\'s own {package}"\n')
    (folder / "flows" / "process_image.py").write_text("raise SystemExit('not ours')\n")
    shutil.copy(SAMPLE, folder / "logo.png")
    return folder


def test_the_wheel_puts_only_its_own_package_on_the_path(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names}
    assert tops == {"prefect_image_pipeline", f"{wheel.name.split('-')[0]}-0.1.0.dist-info"}
    assert "prefect_image_pipeline/pricing/prices.json" in names  # data travels with it


def test_a_project_with_its_own_flows_keeps_them_and_runs_the_pipeline(
    venv: Path, project: Path
) -> None:
    python = venv / "bin" / "python"
    probe = subprocess.run(
        [
            str(python),
            "-c",
            "import flows, blocks, prefect_image_pipeline as p\n"
            "print(flows.MARK, blocks.MARK, p.__file__, sep='|')",
        ],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert probe.returncode == 0, probe.stderr
    own_flows, own_blocks, library = probe.stdout.strip().split("|")
    assert own_flows == "the user's own flows" and own_blocks == "the user's own blocks"
    assert str(venv) in library  # the installed copy, not this checkout

    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "OPENAI_"))}
    env.update(
        PREFECT_HOME=str(project / ".prefect"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        IMAGE_PIPELINE_WARM="0",
    )
    done = subprocess.run(
        [str(venv / "bin" / "process-image"), "--offline", "--ephemeral-server", "-i", "logo.png"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "✓ Processing complete!" in done.stdout
    (url,) = [line.split()[-1] for line in done.stdout.splitlines() if line.startswith("Public")]
    assert Path(url.removeprefix("file://")).read_bytes().startswith(b"\x89PNG")
