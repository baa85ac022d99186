"""Small synthetic files in the exact licensed formats, for tests and for trying the licensed path.

Nothing here is real UMLS / DEFT / MedSTS content: strings are invented, CUIs are made up.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from lib.data.lexicon import LEX_COLUMNS, write_lexicon
from lib.data.umls import MRCONSO_COLUMNS, write_mrconso
from lib.data import deft

CONCEPTS = [  # (made-up CUI, preferred English string, French string, lay term, lay explanation)
    ("C9000001", "Myocardial infarction", "Infarctus du myocarde", "crise cardiaque",
     "le coeur ne reçoit plus assez de sang"),
    ("C9000002", "Hypertension", "Hypertension artérielle", "tension trop haute",
     "le sang pousse trop fort dans les artères"),
    ("C9000003", "Cephalalgia", "Céphalée", "mal de tête", "douleur dans la tête"),
    ("C9000004", "Pyrexia", "Fièvre", "fièvre", "température du corps trop élevée"),
    ("C9000005", "Dyspnea", "Dyspnée", "essoufflement", "difficulté à respirer"),
    ("C9000006", "Pruritus", "Prurit", "démangeaison", "envie de se gratter la peau"),
]


def mrconso_frame() -> pd.DataFrame:
    rows, n = [], 0
    for cui, en, fr, *_ in CONCEPTS:
        for lat, string, sab, supp in ((("ENG", en, "MSH", "N"), ("FRE", fr, "MSHFRE", "N"),
                                        ("ENG", en.upper(), "MTH", "O"))):
            n += 1
            rows.append([cui, lat, "P", f"L{n:07d}", "PF", f"S{n:07d}", "Y", f"A{n:08d}", "", "",
                         f"D{n:06d}", sab, "PT", f"D{n:06d}", string, "0", supp, ""])
    return pd.DataFrame(rows, columns=MRCONSO_COLUMNS)


def lexicon_frame() -> pd.DataFrame:
    return pd.DataFrame([{"Terme": lay, "Taux de complexité": 0.2 + 0.1 * i, "Indice de comparaison": i,
                          "Explication au grand public": expl, "Taux de simplification": 0.5,
                          "Sources": "synthetic fixture", "CUI": cui}
                         for i, (cui, _, _, lay, expl) in enumerate(CONCEPTS)])


def medsts_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "sentence1": ["The patient has a fever.", "Take two tablets daily.", "No chest pain reported.",
                      "Blood pressure is high.", "The wound is healing."],
        "sentence2": ["The patient is febrile.", "Take one tablet at night.", "Patient denies chest pain.",
                      "The weather is nice.", "The incision heals well."],
        "score": [4.5, 2.0, 4.8, 0.0, 3.5]})


def write_all(folder: str | Path) -> dict[str, Path]:
    """Write every licensed-format fixture into ``folder``; returns their paths by name."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = {"umls_mrconso": write_mrconso(mrconso_frame(), folder / "MRCONSO.RRF")}
    lex = lexicon_frame()
    out["lay_lexicon"] = folder / "lexique.csv"
    lex[LEX_COLUMNS + ["CUI"]].to_csv(out["lay_lexicon"], sep=";", index=False, encoding="utf-8")
    out["medsts"] = folder / "medsts.csv"
    medsts_frame().to_csv(out["medsts"], index=False, header=False)
    deft_dir = folder / "deft2020"
    deft.write_synthetic(deft_dir)
    out["deft_dir"] = deft_dir
    return out


__all__ = ["write_all", "write_lexicon", "CONCEPTS"]
