"""``python -m lib.train <params name> [--force]``: build a params file's trained model (``make models-trained``)."""

from __future__ import annotations

import argparse
import logging

from lib import params


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m lib.train", description=__doc__)
    parser.add_argument("names", nargs="+", help="params names (or files) with `model: trained`")
    parser.add_argument("--force", action="store_true", help="retrain even when the model folder exists")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    from lib.train.trainer import train

    for name in args.names:
        print(train(params.load(name), force=args.force))


if __name__ == "__main__":
    main()
