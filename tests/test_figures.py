"""Every figure the pages quote beside a docs/benchmark file is in its JSON, under the row and the field it is
said of: the check (unsupported_figures) on planted pages, then on README.md and every page of docs/."""

import glob
import json
import math
import os
import re

import pytest

from experiments import tables
from conftest import ROOT_DIR

BENCHMARK = os.path.join(ROOT_DIR, "docs", "benchmark")

CITES = re.compile(r"docs/benchmark/|benchmark/[\w.-]+\.(?:json|md|png)|\b(?:results|calibration|agent|online|headroom)\.json"
                   r"|--publish docs/benchmark")
DECIMAL = re.compile(r"(?<![\w.,])(\d+\.\d+)(?![\w.]*\d)(\s*%|\s*hours\b|\s*h\b|\s*minutes\b)?")
SECONDS = re.compile(r"(?<![\w.,])(\d{1,3}(?:,\d{3})+|\d+) s\b")
SCALE = {"": 1.0, "%": 100.0, "hours": 1 / 3600, "h": 1 / 3600, "minutes": 1 / 60}
ROW_KEYS = ("mixer", "row", "against", "twin_of", "variant_of")  # a dict holding one of these is (about) that row
PROSE = {"static", "agent", "natural", "schedule", "random"}  # row labels that are also words: named only as `code`
PAPERS = {"ODM": "bandit", "DBL": "dbl", "Velocitune": "velocity", "AC-ODM": "acodm", "RegMix": "regmix"}
FIELDS = [  # a word said just before a figure (or its table column's header) -> the JSON keys that can give it,
    # each test given the number's key and the key of the dict or list around it (a share's interval: "mean"
    # inside "share_of_oracle_gain")
    (r"\bforgetting\b", lambda parent, key: "forgetting" in key),
    (r"\bgain\b", lambda parent, key: "gain" in key or "gain" in parent),
    (r"\btask\b|\baccuracy\b", lambda parent, key: "task" in key),
    (r"\bshare\b", lambda parent, key: "share" in key or "share" in parent),
    (r"\bmargin\b", lambda parent, key: key == "margin"),
    (r"\bp\b", lambda parent, key: key in ("p", "p_holm", "p_signflip", "alpha")),  # "decided at p < 0.05"
    (r"±|\bstd\b|\bspread\b", lambda parent, key: "std" in key or "spread" in key),
    (r"Δ|\binterval\b", lambda parent, key: key in ("mean", "lo", "hi")),
    (r"\bobjective\b", lambda parent, key: "objective" in key or "balanced" in key or key in ("mean", "lo", "hi")),
]
RANGE = re.compile(r"-|\s*–\s*|\s+to\s+")  # a range: "0.005-0.019", "2.38 to 2.62" (not "2.3 -0.5")
NEAR = 24  # characters before a figure where its field word is looked for


def json_numbers(obj, key="", rows=frozenset(), parent=""):
    """(value, (the key around it, the key that holds it), the rows it belongs to) for every number of a JSON
    document: a number belongs to each row that a dict around it names (its "mixer", or a comparison's "row" and
    "against"); a list's items are held by the list's key."""
    if isinstance(obj, (int, float)) and not isinstance(obj, bool) and math.isfinite(obj):
        yield float(obj), (parent, key), rows
    elif isinstance(obj, dict):
        rows = rows | {v for k, v in obj.items() if k in ROW_KEYS and isinstance(v, str)}
        for k, v in obj.items():
            yield from json_numbers(v, k, rows, key)
    elif isinstance(obj, list):
        for v in obj:
            yield from json_numbers(v, key, rows, parent)


def quoted_units(block):
    """A block's paragraphs, list items and table lines, each as sentences of (header, text) pieces: a table's
    line is one sentence read cell by cell after its column's header; prose splits at "; " and ". " before a
    capital."""
    units, header = [], None
    for part in re.split(r"\n(?=\s*(?:- |\|))", block):
        if part.lstrip().startswith("|"):
            cells = part.strip().strip("|").split("|")
            if header is None:
                header = cells
            elif not set(part.strip()) <= set("|-: "):
                units.append([list(zip(header + [""] * len(cells), cells))])
            continue
        header = None
        units.append([[("", s)] for s in re.split(r"(?<=[.;])\s+(?=[A-Z*(`])|(?<=;)\s+", part)])
    return units


def named_rows(text, known):
    """The rows a sentence names: a row's label (in backticks where it is also a word), a paper's name for its
    default, and with "twin" the twins of those."""
    words = set(re.findall(r"(?<![\w.-])[a-z][\w.-]*\w", text))
    rows = {r for r in known if f"`{r}`" in text or r in words and r not in PROSE}
    rows |= {row for paper, row in PAPERS.items() if re.search(rf"(?<![\w-]){paper}(?![\w-])", text)}
    if re.search(r"\btwins?\b", text):
        rows |= {f"{r}-twin" for r in rows}
    return rows & known


JSON_NAME = re.compile(r"\b([\w-]+\.json)\b")
GENERATED_FROM = ("results.json",) + tables.BESIDE  # what tables.py reads


def cited(paragraph, by_file, everything):
    """The numbers a paragraph's figures may come from: those of the JSON files it names, or of every file
    where it names none (the folder, a page or figure of it, or the command that publishes them)."""
    names = [name for name in JSON_NAME.findall(paragraph) if name in by_file]
    return [n for name in dict.fromkeys(names) for n in by_file[name]] if names else everything


def unsupported_figures(text, numbers):
    """The figures of the page that the JSON does not give as printed, where it says them: in every paragraph
    that cites a file of docs/benchmark (or the command that publishes them), in a table right after such a
    paragraph, in a list that such a paragraph introduces (ending with a colon) and in every generated block,
    each decimal (as is, or as a percentage, hours or minutes) and each "N s" must be, rounded to the digits
    shown, a number of the JSON files its paragraph names (every file where it names none: the folder, a page or
    a figure of it, the command that publishes them; a generated block: the files tables.py reads), of the rows
    its sentence names (or the sentence before it in the same paragraph or list
    item; any row where none is named) held under the key its field word names (the word just before it, or
    its table column's header: forgetting, gain, task, share, margin, p, std, Δ, objective; a range's upper end
    ("0.005-0.019") is said of the same; any key where none is said). A figure said with its field word may
    also be a number of that field that belongs to no row (Holm's alpha in "decided at p < 0.05").
    Inline code, links' targets, arXiv ids and row labels are not figures."""
    by_file = numbers if isinstance(numbers, dict) else {"": numbers}
    everything = [n for pool in by_file.values() for n in pool]
    known = set().union(*(rows for _, _, rows in everything))
    blocks = re.split(r"\n\s*\n", re.sub(r"```.*?```", "", text, flags=re.S))
    checked = [(b, cited(b if CITES.search(b) else before, by_file, everything)) for before, b in
               zip([""] + blocks, blocks) if CITES.search(b) or (CITES.search(before) and (
                   b.lstrip().startswith("|") or b.lstrip().startswith("- ") and before.rstrip().endswith(":")))] + \
        [(m.group(3), [n for name in GENERATED_FROM if name in by_file for n in by_file[name]] or everything)
         for m in tables.BLOCK.finditer(text)]
    labels = re.compile("|".join(rf"(?<![\w.-]){re.escape(r)}(?![\w.-]*\w)"
                                 for r in sorted(known, key=len, reverse=True)) or r"(?!)")
    missing = []
    for unit, numbers in ((unit, numbers) for block, numbers in checked for unit in quoted_units(block)):
        rows = set()
        for sentence in unit:
            rows = named_rows(" ".join(text for _, text in sentence), known) or rows
            for header, cell in sentence:
                plain, last, field = labels.sub("", re.sub(r"`[^`]*`|arXiv \S+|\]\([^)]*\)", "", cell)), 0, None
                for m in sorted([*DECIMAL.finditer(plain), *SECONDS.finditer(plain)], key=lambda m: m.start()):
                    gap = plain[max(last, m.start() - NEAR):m.start()]
                    upper_end = last > 0 and RANGE.fullmatch(plain[last:m.start()])  # "0.005-0.019": said as one
                    before, last = header + " " + gap, m.end()
                    said = [(list(re.finditer(word, before))[-1].end(), test) for word, test in FIELDS
                            if re.search(word, before)]
                    if not upper_end:
                        field = max(said, key=lambda s: s[0])[1] if said else None
                    pool = [v for v, keys, r in numbers if (not rows or r & rows or not r and field) and
                            (field is None or field(*keys))]  # a row's figure, or a field's that no row holds
                    if m.re is SECONDS:
                        printed = {f"{abs(v):.0f}" for v in pool}, m.group(1).replace(",", "")
                    else:
                        digits, unit_ = len(m.group(1).split(".")[1]), (m.group(2) or "").strip()
                        printed = {f"{abs(v) * SCALE[unit_]:.{digits}f}" for v in pool}, m.group(1)
                    if printed[1] not in printed[0]:  # a table's cell is shown after its line's first cell
                        missing.append((f"{sentence[0][1].strip()} | " if len(sentence) > 1 else "") +
                                       plain[max(0, m.start() - 50):m.end()].replace("\n", " ").strip())
    return missing


def test_the_figure_check_finds_a_drifted_number_a_figure_of_another_row_and_one_of_another_field():
    numbers = list(json_numbers({"wall_s": 16588.9, "objective": 2.3043453, "share": 0.27445, "base": 0.012}))
    assert unsupported_figures("The suite (calibration.json): 4.6 hours, 16,589 s, objective 2.304, 27.4%.", numbers) \
        == []
    assert len(unsupported_figures("The suite (calibration.json) took 2.9 hours and 10,494 s; base 0.013.", numbers)) == 3
    assert unsupported_figures("Not citing anything: 2.9 hours.", numbers) == []
    table = unsupported_figures("As in results.json:\n\n| row | value |\n|---|---|\n| a | 2.304 |\n| b | 0.28 |\n\n"
                                "| row | value |\n|---|---|\n| c | 9.1 |", numbers)
    assert table == ["b | 0.28"]  # the table after the paragraph, not the one after it
    listed = unsupported_figures("As results.json holds:\n\n- a 2.304\n- b 0.29\n\nSee results.json.\n\n- c 9.1", numbers)
    assert len(listed) == 1 and listed[0].endswith("- b 0.29")  # the list the colon introduces, not a later one
    assert unsupported_figures("<!-- results:begin full -->\n| row |\n|---|\n| 9.99 |\n<!-- results:end -->\n",
                               numbers) == ["9.99"]

    results = {"rows": [{"mixer": "dbl", "balanced_mean": 2.682, "forgetting_mean": 0.51},
                        {"mixer": "static-tokens-0.4", "balanced_mean": 2.344, "forgetting_mean": 0.07}],
               "comparisons": {"family": [{"row": "dbl", "against": "dbl-twin", "mean": 0.142, "p_holm": 0.216}]}}
    numbers = list(json_numbers(results))
    said = "In results.json, {}."
    assert unsupported_figures(said.format("dbl's objective is 2.682 and its forgetting 0.51"), numbers) == []
    assert unsupported_figures(said.format("DBL: objective 2.682; it forgets (0.51). Its twin: Δ +0.142, Holm p "
                                           "0.216"), numbers) == []  # the paper's name; the row carries on
    assert len(unsupported_figures(said.format("dbl's objective is 2.344"), numbers)) == 1  # another row's figure
    assert len(unsupported_figures(said.format("dbl's forgetting is 2.682"), numbers)) == 1  # another field's
    assert len(unsupported_figures(said.format("dbl's forgetting is 0.51-2.682"), numbers)) == 1  # a range's end too
    assert len(unsupported_figures(said.format("dbl's forgetting is 0.51 to 2.682"), numbers)) == 1
    assert unsupported_figures(said.format("dbl's objective 2.682 -0.51"), numbers) == []  # a signed figure, no range
    assert len(unsupported_figures(said.format("dbl against its twin: Holm p 0.142"), numbers)) == 1
    assert unsupported_figures(said.format("`static-tokens-0.4` forgets 0.07"), numbers) == []  # a label is no figure
    table = "As in results.json:\n\n| row | objective | forgetting |\n|---|---|---|\n| dbl | 2.682 | 0.07 |"
    assert len(unsupported_figures(table, numbers)) == 1  # a table's cell is read under its column and its row

    by_file = {"results.json": numbers, "headroom.json": list(json_numbers({"margin": 0.0196, "other": 7.25}))}
    assert len(unsupported_figures("In headroom.json, dbl's objective is 2.682.", by_file)) == 1  # not its file's
    assert unsupported_figures("In headroom.json and results.json, dbl's objective is 2.682.", by_file) == []
    assert unsupported_figures("In docs/benchmark/, dbl's objective is 2.682 and a margin 0.020.", by_file) == []
    assert unsupported_figures("As headroom.json holds:\n\n- 7.25\n- 2.682", by_file) == ["- 2.682"]
    block = "<!-- results:begin full -->\n| row |\n|---|\n| {} |\n<!-- results:end -->\n"
    assert unsupported_figures(block.format(2.682), by_file) == [] and unsupported_figures(block.format(7.25),
                                                                                           by_file) == ["7.25"]


@pytest.mark.parametrize("page", ["README.md"] + sorted(os.path.relpath(p, ROOT_DIR)
                                                       for p in glob.glob(os.path.join(ROOT_DIR, "docs", "*.md"))))
def test_every_figure_quoted_beside_a_benchmark_file_is_in_its_json(page):
    numbers = {}
    for path in glob.glob(os.path.join(BENCHMARK, "*.json")):
        with open(path) as f:
            numbers[os.path.basename(path)] = list(json_numbers(json.load(f)))
    with open(os.path.join(ROOT_DIR, page)) as f:
        missing = unsupported_figures(f.read(), numbers)
    assert not missing, f"{page} quotes figures that docs/benchmark/*.json does not hold where the page says: {missing}"
