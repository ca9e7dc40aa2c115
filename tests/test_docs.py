"""The docs keep up with the code: generated sections are current, every module and doc is named."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import AliasChoices

from prefect_image_pipeline.settings.config import Settings
from scripts.generate_docs import (
    SECTIONS,
    GeneratedDocsError,
    configuration_markdown,
    expected_docs,
    main,
    render,
    stale_docs,
)

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")


def _variables() -> list[str]:
    variables = []
    for field in Settings.model_fields.values():
        alias = field.validation_alias
        names = alias.choices if isinstance(alias, AliasChoices) else [alias]
        variables += [str(name) for name in names]
    return variables


def test_the_generated_docs_are_current() -> None:
    expected = expected_docs()
    assert REPO / "docs" / "configuration.md" in expected
    assert stale_docs(expected) == [], "run `uv run python scripts/generate_docs.py`"


def test_the_configuration_table_lists_every_variable_with_its_default() -> None:
    table = configuration_markdown()
    variables = _variables()
    assert len(variables) >= 20
    assert [v for v in variables if f"`{v}`" not in table] == []
    assert len(table.strip().splitlines()) == len(Settings.model_fields) + 2
    row = next(line for line in table.splitlines() if "`IMAGE_PIPELINE_SERVER_PORT`" in line)
    assert "`4300`" in row and "≥ 1024" in row and "≤ 65535" in row and "`int`" in row
    row = next(line for line in table.splitlines() if "`OPENAI_API_KEY`" in line)
    assert "secret" in row and "unset" in row


def test_the_configuration_doc_holds_the_generated_table() -> None:
    doc = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
    body = doc.split("<!-- generated: configuration -->", 1)[1].split("<!-- end generated -->")[0]
    assert body.strip() == configuration_markdown().strip()


def test_a_stale_doc_is_named_and_rewritten(tmp_path: Path) -> None:
    doc = tmp_path / "page.md"
    doc.write_text("Prose.\n\n<!-- generated: demo -->\nold\n<!-- end generated -->\n\nMore.\n")
    sections = {"demo": lambda: "| a |\n|---|\n"}
    expected = expected_docs(tmp_path, sections)
    assert stale_docs(expected) == [doc]
    doc.write_text(expected[doc])
    assert stale_docs(expected_docs(tmp_path, sections)) == []
    assert doc.read_text().startswith("Prose.\n\n<!-- generated: demo -->\n\n| a |")
    assert doc.read_text().endswith("<!-- end generated -->\n\nMore.\n")


def test_markers_and_sections_must_match(tmp_path: Path) -> None:
    with pytest.raises(GeneratedDocsError, match="names no section"):
        render("<!-- generated: nope -->\n<!-- end generated -->", {"demo": ""})
    (tmp_path / "page.md").write_text("no markers\n")
    with pytest.raises(GeneratedDocsError, match="no doc holds the markers of demo"):
        expected_docs(tmp_path, {"demo": lambda: ""})


def test_check_mode_names_a_stale_doc_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert "configuration" in SECTIONS
    doc = tmp_path / "configuration.md"
    doc.write_text("<!-- generated: configuration -->\n| stale |\n<!-- end generated -->\n")
    for name in set(SECTIONS) - {"configuration"}:  # every section must have a place
        (tmp_path / f"{name}.md").write_text(
            f"<!-- generated: {name} -->\n{SECTIONS[name]()}<!-- end generated -->\n"
        )
    assert main(["--check"], docs=tmp_path) == 1
    assert f"{doc} is not current" in capsys.readouterr().err
    assert "| stale |" in doc.read_text()
    assert main([], docs=tmp_path) == 0
    assert main(["--check"], docs=tmp_path) == 0
    assert configuration_markdown().strip() in doc.read_text()
    assert main(["--check"]) == 0


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


def test_the_readme_is_short() -> None:
    lines = README.count("\n")
    assert lines <= 160, f"README.md has {lines} lines; move detail into docs/"
