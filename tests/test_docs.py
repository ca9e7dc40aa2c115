"""The README keeps up with the code: every setting, every module and every doc is named."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices

from prefect_image_pipeline.settings.config import Settings

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()


def _section(title: str) -> str:
    return README.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_the_configuration_table_lists_every_variable() -> None:
    table = _section("Configuration")
    variables = []
    for field in Settings.model_fields.values():
        alias = field.validation_alias
        names = alias.choices if isinstance(alias, AliasChoices) else [alias]
        variables += [str(name) for name in names]
    assert len(variables) >= 20
    assert [v for v in variables if f"`{v}`" not in table] == []


def test_the_architecture_names_every_module() -> None:
    architecture = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    modules = sorted(
        p.relative_to(REPO / "prefect_image_pipeline")
        for p in (REPO / "prefect_image_pipeline").rglob("*.py")
        if p.name != "__init__.py"
    )
    assert len(modules) > 30
    in_package = [m for m in modules if m.parent != Path()]
    assert [str(m) for m in modules if m.name not in architecture] == []
    assert [str(m) for m in in_package if f"{m.parent.name}/" not in architecture] == []


def test_the_readme_links_every_doc() -> None:
    docs = sorted(p.name for p in (REPO / "docs").glob("*.md"))
    assert docs
    assert [d for d in docs if f"docs/{d}" not in README] == []
