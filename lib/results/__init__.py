"""Results: the typed record of every notebook run, its files, and the one table writer.

Near the bottom of ``lib`` on purpose: every stage writes its numbers here and every later stage
(paper tables, figures, the README, the benchmark) reads them back typed, never copied by hand.

* :mod:`lib.results.schema` - one pydantic record per notebook (validated on write and on read);
* :mod:`lib.results.io` - ``write_result`` / ``read_result`` (atomic, identity and versions recorded),
  the run banner, the machine a run ran on;
* :mod:`lib.results.tables` - ``write_table``, the one table writer (CSV / Markdown / LaTeX), licensed
  outputs apart with a NOTICE.
"""

from lib.results.io import (  # noqa: F401
    alignment_tables,
    library_versions,
    machine_info,
    metrics_frame,
    models_with_alignment,
    read_result,
    result_path,
    run_banner,
    write_result,
)
from lib.results.schema import jsonable  # noqa: F401
from lib.results.tables import PAPER, markdown, paper_dir, table_dir, table_path, write_notice, write_table  # noqa: F401
