"""The documentation holds together and agrees with the code.

- The README stays a front page (at most 160 lines) that links every page of docs/.
- Every relative link and image in README.md, docs/*.md, benchmarks/README.md,
  recipes/*/README.md and tokenizers/README.md points at a file that exists, and an `#anchor`
  into a Markdown file names one of its headings, by GitHub's slug rules.
- The configuration reference shows exactly the keys and defaults of `nmt.config.Config`: the
  YAML block after `<!-- defaults: Config -->` (docs/configuration.md) the whole config, those
  after `<!-- defaults: model -->` and `<!-- defaults: search -->` one section each.
- The module paths and Python names the docs mention exist, and none is an old (pre-0.2) path
  outside the deprecation table of docs/python-api.md.

The link checker and the slug function are tested on small tables of their own first.
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path
from typing import Any, Optional

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
DOC_FILES = [README, *DOCS, ROOT / "benchmarks" / "README.md", *sorted(ROOT.glob("recipes/*/README.md")),
             ROOT / "tokenizers" / "README.md"]
EXTERNAL = ("http://", "https://", "mailto:")

# ----------------------------------------------------------------------------- reading Markdown

FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1")
# [text](target) or ![alt](target), text with at most one level of nested brackets, an optional
# "title" after the target
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+[\"'][^\"']*[\"'])?\s*\)")
HTML_ANCHOR = re.compile(r"<a\s+(?:name|id)=\"([^\"]+)\"")


def prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks (a line inside one is returned empty)."""
    lines, fenced = [], None
    for line in text.splitlines():
        match = FENCE.match(line)
        if fenced is None and match:
            fenced = match.group(1)
            lines.append("")
        elif fenced is not None:
            if re.fullmatch(rf" {{0,3}}{re.escape(fenced[0])}{{{len(fenced)},}}\s*", line):  # a bare fence as long
                fenced = None
            lines.append("")
        else:
            lines.append(line)
    return lines


def links(text: str) -> list[str]:
    """Targets of the links and images in Markdown prose, in order; code is not prose."""
    found = []
    for line in prose_lines(text):
        found += LINK.findall(CODE_SPAN.sub("", line))
    return found


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: its text lower-cased, punctuation other than hyphens and
    underscores removed, each space a hyphen."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text stays, not its target
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every anchor of a Markdown file: heading slugs (a repeated one gets -1, -2, ...) and
    explicit `<a name=...>` / `<a id=...>`."""
    seen: dict[str, int] = {}
    found = set(HTML_ANCHOR.findall(text))
    for line in prose_lines(text):
        match = HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def broken_link(source: Path, target: str) -> Optional[str]:
    """Why `target`, linked from the file `source`, does not resolve; None when it does."""
    if target.startswith(EXTERNAL):
        return None
    path_part, _, anchor = target.partition("#")
    path = (source.parent / path_part).resolve() if path_part else source
    if not path.exists():
        return f"{target}: {path_part} does not exist"
    if anchor and path.suffix == ".md" and anchor not in anchors(path.read_text(encoding="utf-8")):
        return f"{target}: no heading #{anchor} in {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}"
    return None


# ----------------------------------------------------------------------------- the checker's own tests


@pytest.mark.parametrize("heading,expected", [
    ("Decoding speed", "decoding-speed"),
    ("Shortlist size", "shortlist-size"),
    ("Data: `nmt prepare`", "data-nmt-prepare"),
    ("Against OpenNMT-py: latest run", "against-opennmt-py-latest-run"),
    ("BLEU by source length: the context-vector bottleneck", "bleu-by-source-length-the-context-vector-bottleneck"),
    ("What's new, (really)?", "whats-new-really"),
    ("two  spaces", "two--spaces"),
    ("snake_case and CamelCase", "snake_case-and-camelcase"),
    ("See [the guide](guide.md) first", "see-the-guide-first"),
    ("Überblick über Größen", "überblick-über-größen"),
    ("1.3x faster", "13x-faster"),
])
def test_slug_follows_githubs_rules(heading, expected):
    assert slug(heading) == expected


@pytest.mark.parametrize("text,expected", [
    ("see [a](b.md) and [c](d.md#e)", ["b.md", "d.md#e"]),
    ("![a plot](docs/curves.png)", ["docs/curves.png"]),
    ("[external](https://example.com/x) and [mail](mailto:a@b.c)", ["https://example.com/x", "mailto:a@b.c"]),
    ('[with title](page.md "Title")', ["page.md"]),
    ("[`--shortlist [F,K]`](decoding.md#shortlist-size)", ["decoding.md#shortlist-size"]),
    ("`[inside](code.md)` but [outside](out.md)", ["out.md"]),
    ("```\n[fenced](code.md)\n```\n[after](after.md)", ["after.md"]),
    ("~~~\n```\n[inside](c.md)\n~~~\n[after](p.md)", ["p.md"]),
    ("````\n```python\n[inside](c.md)\n```\n````\n[after](p.md)", ["p.md"]),
    ("[same page](#a-heading)", ["#a-heading"]),
    ("plain [brackets] and (parentheses), `--shortlist [F,K[,M]]`", []),
])
def test_link_extractor(text, expected):
    assert links(text) == expected


def test_anchors_number_repeated_headings_and_skip_code():
    text = "# Notes\n## Notes\n```\n# not a heading\n```\n### Notes ###\n<a name=\"custom\"></a>\n"
    assert anchors(text) == {"notes", "notes-1", "notes-2", "custom"}


def test_broken_link_finds_missing_files_and_anchors(tmp_path):
    (tmp_path / "sub").mkdir()
    page = tmp_path / "sub" / "page.md"
    page.write_text("# Page\n## Part one\n")
    (tmp_path / "pic.png").write_bytes(b"")
    cases = {
        "page.md": None, "page.md#part-one": None, "#page": None, "../pic.png": None,
        "https://nowhere.invalid/x.md": None, "../pic.png#anything": None,
        "missing.md": "does not exist", "page.md#part-two": "no heading #part-two", "#nope": "no heading #nope",
    }
    for target, problem in cases.items():
        found = broken_link(page, target)
        assert (found is None) if problem is None else (problem in found), (target, found)


# ----------------------------------------------------------------------------- the docs themselves


def test_readme_is_a_front_page():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 160, f"README.md has {len(lines)} lines: move reference material into docs/"


def test_readme_links_every_docs_page_and_the_benchmarks():
    targets = {target.partition("#")[0] for target in links(README.read_text(encoding="utf-8"))}
    expected = {f"docs/{page.name}" for page in DOCS} | {"benchmarks/README.md"}
    expected |= {str(path.relative_to(ROOT)) for path in ROOT.glob("recipes/*/README.md")}
    assert expected - targets == set()


@pytest.mark.parametrize("doc", DOC_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(doc):
    problems = [problem for target in links(doc.read_text(encoding="utf-8"))
                if (problem := broken_link(doc, target))]
    assert not problems, "\n".join(problems)


# ----------------------------------------------------------------------------- configuration reference

MARKED_BLOCK = re.compile(r"<!-- defaults: (\w+) -->\s*\n```ya?ml\n(.*?)\n```", re.S)
MINIMAL_DATA = {"name": "x", "train": {"src": "a", "tgt": "b"}}
NO_DEFAULT = ("data.name", "data.train")  # required: the block shows an example, not a default


def defaults() -> dict:
    from nmt.config import Config

    return Config.model_validate({"data": MINIMAL_DATA}).model_dump(mode="json")


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1}; lists and None are values."""
    if not isinstance(tree, dict):
        return {prefix: tree}
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def same(shown: Any, default: Any) -> bool:
    """Equal values; a YAML 2000 shows a 2000.0 default, but true never shows 1."""
    if isinstance(shown, bool) or isinstance(default, bool):
        return type(shown) is type(default) and shown == default
    return shown == default


def marked_blocks() -> list[tuple[str, str, str]]:
    """(file, marker, YAML text) for every `<!-- defaults: ... -->` block in the docs."""
    return [(str(doc.relative_to(ROOT)), marker, body) for doc in DOC_FILES
            for marker, body in MARKED_BLOCK.findall(doc.read_text(encoding="utf-8"))]


def test_the_whole_config_has_a_reference_block():
    markers = {(where, marker) for where, marker, _ in marked_blocks()}
    assert ("docs/configuration.md", "Config") in markers
    assert ("docs/models.md", "model") in markers
    assert ("docs/decoding.md", "search") in markers


@pytest.mark.parametrize("where,marker,body", marked_blocks(), ids=lambda v: v if "\n" not in v else "yaml")
def test_reference_block_shows_the_codes_defaults(where, marker, body):
    from nmt.config import Config

    shown = yaml.safe_load(body)
    sections = list(Config.model_fields) if marker == "Config" else [marker]
    assert list(shown) == sections, f"{where}: the block's sections should be {sections}"
    tree = shown if marker == "Config" else {"data": MINIMAL_DATA, **shown}
    Config.model_validate(tree)  # the block itself is a valid config

    def keys(flat: dict) -> dict:
        return {k: v for k, v in flat.items() if k.split(".")[0] in sections
                and not any(k == r or k.startswith(r + ".") for r in NO_DEFAULT)}

    shown_flat, code_flat = keys(flatten(shown)), keys(flatten(defaults()))
    assert sorted(code_flat.keys() - shown_flat.keys()) == [], f"{where}: keys missing from the block"
    assert sorted(shown_flat.keys() - code_flat.keys()) == [], f"{where}: keys the code does not have"
    wrong = {k: (shown_flat[k], code_flat[k]) for k in code_flat if not same(shown_flat[k], code_flat[k])}
    assert wrong == {}, f"{where}: (shown, default in nmt/config.py)"


def test_flatten_and_same():
    assert flatten({"a": {"b": 1, "c": [1, 2]}, "d": None}) == {"a.b": 1, "a.c": [1, 2], "d": None}
    assert same(2000, 2000.0) and same([0.9, 0.999], [0.9, 0.999]) and same(None, None)
    assert not same(True, 1) and not same(0, False) and not same("runs", "run")


# ----------------------------------------------------------------------------- module paths and names

FILE_PATH = re.compile(r"(?<![\w/.~-])((?:nmt|tests|benchmarks|recipes)/[\w/.-]*?\w\.(?:py|yaml))\b")
FOLDER_PATH = re.compile(r"(?<![\w/.~-])(nmt/(?:[a-z_]+/)+)")
DOTTED = re.compile(r"`(nmt(?:\.\w+)+)")
PYTHON_BLOCK = re.compile(r"```python\n(.*?)```", re.S)
DEPRECATION_TABLE = "docs/python-api.md"


def resolves(name: str) -> bool:
    """Whether `nmt.a.b.C` is a module, or an attribute reached from the longest module prefix."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


# modules before 0.2 that were split between a command and the library, so have no alias
REMOVED = {"nmt.search_options", "nmt.translate", "nmt.info", "nmt.plot", "nmt.data.prepare"}


def old_path(name: str) -> Optional[str]:
    from nmt.deprecated import MOVED

    return next((old for old in MOVED if name == old or name.startswith(old + ".")), None)


def python_names(text: str) -> list[str]:
    """`nmt...` modules and names that the ```python blocks import."""
    names = []
    for block in PYTHON_BLOCK.findall(text):
        for node in ast.walk(ast.parse(block)):
            if isinstance(node, ast.Import):
                names += [a.name for a in node.names if a.name.split(".")[0] == "nmt"]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "nmt":
                names += [f"{node.module}.{a.name}" for a in node.names]
    return names


@pytest.mark.parametrize("doc", DOC_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_paths_the_docs_name_exist(doc):
    text = doc.read_text(encoding="utf-8")
    missing = [p for p in FILE_PATH.findall(text) if not (ROOT / p).is_file()]
    missing += [p for p in FOLDER_PATH.findall(text) if not (ROOT / p).is_dir()]
    assert not missing, f"{doc.relative_to(ROOT)} names paths that do not exist: {sorted(set(missing))}"


@pytest.mark.parametrize("doc", DOC_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_python_names_the_docs_use_exist(doc):
    text = doc.read_text(encoding="utf-8")
    where = str(doc.relative_to(ROOT))
    names = set(DOTTED.findall(text)) | set(python_names(text))
    old = sorted(n for n in names if old_path(n) and where != DEPRECATION_TABLE)
    assert not old, f"{where} uses old module paths (see nmt/deprecated.py): {old}"
    gone = REMOVED if where == DEPRECATION_TABLE else set()  # the table says where they went
    unknown = sorted(n for n in names if not old_path(n) and not resolves(n) and n not in gone)
    assert not unknown, f"{where} names what the package does not have: {unknown}"


def test_deprecation_table_lists_every_moved_module():
    from nmt.deprecated import MOVED

    text = (ROOT / DEPRECATION_TABLE).read_text(encoding="utf-8")
    missing = [old for old, new in MOVED.items() if f"| `{old}` | `{new}` |" not in text]
    assert not missing


def test_name_checks_catch_old_and_unknown_names():
    assert old_path("nmt.translator.Translator") == "nmt.translator"
    assert old_path("nmt.decoding.translator") is None
    assert resolves("nmt.decoding.search.search") and resolves("nmt.Translator") and resolves("nmt.metrics")
    assert not resolves("nmt.decoding.search.no_such_function") and not resolves("nmt.no_such_module")
    assert python_names("```python\nimport nmt\nfrom nmt.metrics import score\nimport torch\n```") == \
        ["nmt", "nmt.metrics.score"]
    assert FILE_PATH.findall("`nmt/model/attention.py`, ~/.cache/nmt/x.py, recipes/<corpus>/run.py") == \
        ["nmt/model/attention.py"]


CITED = re.compile(r"\b(docs/[\w.-]+\.md|benchmarks/README\.md)(?:,\s*\"([^\"]+)\")?")


def test_pages_and_sections_the_code_cites_exist():
    """Code cites `docs/decoding.md, "Shortlist size"`: the page and its heading must be there."""
    problems = []
    for path in sorted([*(ROOT / "nmt").rglob("*.py"), *(ROOT / "tests").glob("*.py")]):
        for page, section in CITED.findall(path.read_text(encoding="utf-8")):
            if not (ROOT / page).is_file():
                problems.append(f"{path.relative_to(ROOT)}: {page} does not exist")
            elif section and slug(section) not in anchors((ROOT / page).read_text(encoding="utf-8")):
                problems.append(f"{path.relative_to(ROOT)}: no section {section!r} in {page}")
    assert not problems, "\n".join(problems)
