"""The README keeps up with the code: every setting, every module and every doc is named."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices

from flows.config import Settings

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


def test_the_layout_names_every_module() -> None:
    layout = _section("Layout")
    modules = sorted(
        p.relative_to(REPO / "flows")
        for p in (REPO / "flows").rglob("*.py")
        if p.name != "__init__.py"
    )
    assert len(modules) > 30
    in_package = [m for m in modules if m.parent != Path()]
    assert [str(m) for m in modules if m.name not in layout] == []
    assert [str(m) for m in in_package if f"{m.parent}/" not in layout] == []


def test_the_readme_links_every_doc() -> None:
    docs = sorted(p.name for p in (REPO / "docs").glob("*.md"))
    assert docs
    assert [d for d in docs if f"docs/{d}" not in README] == []
