"""Dependency floors stay past the versions with published security advisories."""

from __future__ import annotations

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from tests.conftest import PROJECT_ROOT

tomllib = pytest.importorskip("tomllib")

ADVISORY_FLOORS = {
    "jinja2": "3.1.6",  # CVE-2024-56201, CVE-2024-56326 (3.1.5), CVE-2025-27516 (3.1.6)
    "pypdf": "6.16.2",  # DoS on crafted PDFs: CVE-2025-55197 ... CVE-2026-84311 (6.0.0-6.16.x)
    "langchain-text-splitters": "1.1.2",  # CVE-2025-6985 (0.3.9), GHSA-fv5p-p927-qmxr (1.1.2)
    "ray": "2.55.0",  # GHSA-q279-jhrf-cc6v, CVE-2026-27482 (2.54.0), CVE-2026-32981 (2.55.0)
    "markdown-it-py": "2.2.0",  # GHSA-jrwr-5x3p-hvc3, GHSA-vrjv-mxr7-vjf8 (2.2.0)
    "reportlab": "3.6.13",  # CVE-2023-33733 (3.6.13)
    "pytest": "9.0.3",  # CVE-2025-71176 (9.0.3)
    "mammoth": "1.11.0",  # CVE-2025-11849: external image links read local files (1.11.0)
    "python-docx": "0.8.6",  # CVE-2016-5851: XML external entities (0.8.6)
}
"""The first version with every fix the advisories named here publish."""


def declared_floors() -> dict[str, Version]:
    """Each dependency's ``>=`` floor, over the dependencies and every extra of pyproject.toml."""
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    lines = list(project["project"]["dependencies"])
    for extra in project["project"]["optional-dependencies"].values():
        lines += extra
    floors: dict[str, Version] = {}
    for line in lines:
        requirement = Requirement(line)
        for specifier in requirement.specifier:
            if specifier.operator == ">=":
                floors[requirement.name.lower()] = Version(specifier.version)
    return floors


@pytest.mark.parametrize(("package", "fixed"), sorted(ADVISORY_FLOORS.items()))
def test_each_floor_is_past_the_published_advisories(package: str, fixed: str) -> None:
    floors = declared_floors()
    assert package in floors, f"{package} has no >= floor in pyproject.toml"
    assert floors[package] >= Version(fixed), (
        f"{package}>={floors[package]} admits versions with published advisories: "
        f"raise the floor to {fixed}"
    )
