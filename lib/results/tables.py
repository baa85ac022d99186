"""The one table writer: CSV, Markdown and LaTeX, atomic, in the folder the table belongs to.

Folders: ``results/<params-name>/`` for a run's tables; its ``licensed-derived/`` (beside a NOTICE) for
row-level tables of a run that read licensed data, or whose rows come from such tables of another run;
``results/paper/`` for the paper's assembled tables (``write_table(PAPER, ...)``). :func:`table_path`
finds a run's table in whichever folder it was written to.

Rendering: CSV through pandas (full precision, what every reader parses); Markdown through pandas'
``to_markdown`` (tabulate) and LaTeX through pandas' Styler (booktabs rules), both from the same cell
text (:func:`cell_text`: four significant digits by default, blanks for missing values), with the
caption above. Markdown shows a number's minus and exponent typographically (:func:`md_number`), so a
cell never wraps inside a number.
"""

from __future__ import annotations

import logging
import math
import re
from pathlib import Path
from typing import Any, Literal, Sequence

import numpy as np
import pandas as pd

from lib import atomic, paths
from lib.params import Params, licensed_inputs

log = logging.getLogger("lib.results.tables")

PAPER: Literal["paper"] = "paper"  # write_table(PAPER, ...): results/paper/, the paper's assembled tables

FORMATS = ("csv", "md", "tex")

LICENSED_DIR = "licensed-derived"

LICENSED_SOURCES = {
    "umls_mrconso": "the UMLS Metathesaurus (MRCONSO.RRF; UMLS Metathesaurus License)",
    "lay_lexicon": "the French lay lexicon (LEX)",
    "deft_dir": "the DEFT 2020 corpus (DEFT 2020 data agreement)",
    "medsts": "MedSTS (clinical sentence pairs; data use agreement)",
    "expert_ratings": "the expert ratings file",
    "data_tier": "the licensed data tier (data_tier: licensed)",
}

UPSTREAM_LINE = ("- row-level tables of other params runs, themselves derived from licensed data (see the "
                 "NOTICE.md in their `licensed-derived/` folders)")


# ---------------------------------------------------------------------------------------------
# Folders, and the NOTICE that marks outputs derived from licensed data


def paper_dir() -> Path:
    """``results/paper/``: Tables 1-3 in the paper's layout (notebook 09)."""
    return paths.results_dir() / PAPER


def table_dir(params_name: str, licensed: bool = False) -> Path:
    """``results/<name>/`` or, for row-level tables of a run on licensed data, its ``licensed-derived/``."""
    base = paths.results_dir() / params_name
    return base / LICENSED_DIR if licensed else base


def table_path(params_name: str, stem: str, ext: str = "csv") -> Path:
    """Where table ``<stem>.<ext>`` of a params name lives: ``licensed-derived/`` if it was written
    there, else ``results/<name>/`` (also the answer when it does not exist yet). The one place
    readers look a table up; :func:`write_table` keeps a table in one folder only."""
    fname = f"{stem}.{ext}"
    marked = table_dir(params_name, licensed=True) / fname
    if marked.exists():
        return marked
    path = table_dir(params_name) / fname
    path.parent.mkdir(parents=True, exist_ok=True)  # older callers write to it directly
    return path


def notice_text(P: Params, upstream: bool = False) -> str | None:
    """The NOTICE for a folder of outputs derived row by row from licensed inputs (None: there are none).

    ``upstream``: some rows come from another run's licensed-derived tables (08 rates 04's alignments).
    """
    lines = [f"- {LICENSED_SOURCES[k]} (params key `{k}`: {getattr(P, k)})" for k in licensed_inputs(P)]
    lines += [UPSTREAM_LINE] if upstream else []
    if not lines:
        return None
    sources = "\n".join(lines)
    return (f"# Derived from licensed data: do not publish\n\n"
            f"The files in this folder were produced by the params `{P.name}` from licensed inputs:\n\n"
            f"{sources}\n\n"
            f"They contain text from these sources (terms, sentences, alignments row by row). They must not "
            f"be published, shared or committed; licensed data and its row-level derivatives never enter "
            f"the repository.\n\n"
            f"The aggregate metrics in the JSON result files (`results/{P.name}/*.json`) and the aggregate "
            f"tables outside this folder hold no licensed text and may be published.\n")


def write_notice(folder: Path, P: Params, upstream: bool = False) -> Path | None:
    """Write ``folder/NOTICE.md`` for a run on licensed inputs, atomically and once (rewritten only
    when its content changes; an upstream mark once written is kept)."""
    path = Path(folder) / "NOTICE.md"
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    text = notice_text(P, upstream or UPSTREAM_LINE in old)
    if text is None:
        return None
    if old != text:
        atomic.write_text(path, text)
    return path


def _marked(params_name: str) -> bool:
    """Whether a params run has written row-level tables from licensed data (its NOTICE exists)."""
    return (table_dir(params_name, licensed=True) / "NOTICE.md").exists()


# ---------------------------------------------------------------------------------------------
# Cell text, Markdown and LaTeX


def fmt_number(x: Any) -> str:
    """Four significant digits (tiny values such as p-values in scientific notation); blanks for
    missing values. The default cell text of every Markdown and LaTeX table."""
    if x is None or (isinstance(x, (float, np.floating)) and math.isnan(x)):
        return ""
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, float, np.integer, np.floating)):
        return str(x)
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    return f"{x:.4g}" if abs(x) >= 1e-3 or x == 0 else f"{x:.3g}"


def cell_text(x: Any, floatfmt: str | None = None) -> str:
    """A cell as shown: ``floatfmt`` (e.g. ``".4f"``) for non-integer numbers if given (values below
    1e-3, such as p-values, keep three significant digits), else :func:`fmt_number`; missing values blank."""
    if floatfmt and isinstance(x, (float, np.floating)) and not math.isnan(x) and (x == 0 or abs(x) >= 1e-3):
        return format(x, floatfmt)
    if x is pd.NA or x is pd.NaT:
        return ""
    return fmt_number(x)


def shown(df: pd.DataFrame, floatfmt: str | None = None) -> pd.DataFrame:
    """The table as the text its Markdown and LaTeX show (index and header kept)."""
    return df.astype(object).map(lambda x: cell_text(x, floatfmt))


_SUPERSCRIPT = str.maketrans("0123456789", "\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079")
_SCIENTIFIC = re.compile(r"(-?)(\d+(?:\.\d+)?)e([+-])(\d+)")
MINUS = "\u2212"


def md_number(text: str) -> str:
    """A number's cell text as Markdown shows it: ``2.07e-97`` as ``2.07×10⁻⁹⁷``, ``-0.5`` as ``−0.5``
    (U+2212); anything else unchanged.

    Why: a browser may break a line after an ASCII hyphen followed by digits, so a narrow table column
    in JupyterLab's Markdown preview showed ``2.07e-`` above ``97``; a power of ten and the minus sign
    offer no break. The CSV beside every Markdown table keeps the plain, parseable number.
    """
    m = _SCIENTIFIC.fullmatch(text)
    if m:
        sign, mantissa, exp_sign, exponent = m.groups()
        power = ("\u207b" if exp_sign == "-" else "") + (exponent.lstrip("0") or "0").translate(_SUPERSCRIPT)
        return f"{MINUS if sign else ''}{mantissa}\u00d710{power}"
    if re.fullmatch(r"-\d+(?:\.\d+)?", text):
        return MINUS + text[1:]
    return text


def _md_cell(x: Any, floatfmt: str | None) -> str:
    text = cell_text(x, floatfmt)
    numeric = isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, (bool, np.bool_))
    return (md_number(text) if numeric else text).replace("|", "\\|")


def markdown(df: pd.DataFrame, index: bool = False, floatfmt: str | None = None) -> str:
    """GitHub Markdown of a table (pandas ``to_markdown``, i.e. tabulate): cells as :func:`cell_text`
    (numbers as :func:`md_number`), never re-parsed as numbers, a ``|`` inside a cell escaped."""
    text = df.astype(object).map(lambda x: _md_cell(x, floatfmt))
    if index:
        text.index = [str(i).replace("|", "\\|") for i in text.index]
    text.columns = [str(c).replace("|", "\\|") for c in text.columns]
    return text.to_markdown(index=index, tablefmt="github", disable_numparse=True) + "\n"


_TEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def tex_escape(text: str) -> str:
    """Plain text safe inside LaTeX (the caption: pandas' Styler escapes cells, not captions)."""
    return "".join(_TEX_SPECIAL.get(ch, ch) for ch in text)


def latex(df: pd.DataFrame, stem: str, caption: str = "", index: bool = False,
          floatfmt: str | None = None) -> str:
    """A booktabs ``table`` environment (pandas Styler) labelled ``tab:<stem>``, cells as the Markdown."""
    style = shown(df, floatfmt).style.format(escape="latex").format_index(escape="latex", axis=1)
    if index:
        style = style.format_index(escape="latex", axis=0)
    else:
        style = style.hide(axis="index")
    return style.to_latex(caption=tex_escape(caption) if caption else None, hrules=True, label=f"tab:{stem}")


# ---------------------------------------------------------------------------------------------
# Writing


def write_table(P: Params | Literal["paper"], stem: str, df: pd.DataFrame, formats: Sequence[str] = ("csv",),
                index: bool = False, *, row_level: bool = True, caption: str = "",
                derived_from: Sequence[str] = (), floatfmt: str | None = None) -> dict[str, Path]:
    """Write ``<stem>.<fmt>`` for each of ``formats`` (csv, md, tex) atomically; returns ``{fmt: path}``.

    Folder: :data:`PAPER` -> ``results/paper/``; a run's ``P`` -> ``results/<P.name>/``, or its
    ``licensed-derived/`` (beside a NOTICE) when ``row_level`` and the run read licensed inputs or
    ``derived_from`` names a run whose row-level tables are licensed-derived. ``row_level``: the table
    holds input text row by row (alignments, ratings); aggregate tables (metrics, counts) pass
    ``row_level=False`` and stay publishable. ``caption`` heads the Markdown and captions the LaTeX;
    ``floatfmt`` formats their non-integer numbers (default four significant digits); the CSV keeps
    full precision.
    """
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ValueError(f"write_table: unknown format(s) {unknown} (known: {', '.join(FORMATS)})")
    if P == PAPER:
        folder, other = paper_dir(), None
    elif isinstance(P, Params):
        upstream = any(_marked(n) for n in derived_from)
        licensed = row_level and (bool(licensed_inputs(P)) or upstream)
        folder, other = table_dir(P.name, licensed), table_dir(P.name, not licensed)
        if licensed:
            write_notice(folder, P, upstream)
    else:
        raise TypeError(f"write_table: P must be a Params or PAPER, not {P!r}")
    out: dict[str, Path] = {}
    for fmt in formats:
        dest = folder / f"{stem}.{fmt}"
        if fmt == "csv":
            with atomic.atomic_path(dest) as tmp:
                df.to_csv(tmp, index=index)
        elif fmt == "md":
            atomic.write_text(dest, (f"{caption}\n\n" if caption else "") + markdown(df, index, floatfmt))
        else:
            atomic.write_text(dest, latex(df, stem, caption, index, floatfmt))
        if other is not None:
            # one table, one place: a copy left in the other folder by an earlier run would be read instead
            (other / dest.name).unlink(missing_ok=True)
        out[fmt] = dest
        log.info("wrote %s", dest)
    return out
