"""A copy of this tree in which every architecture lists every float encoding, for exploration
runs on the GPU host (what the GPU suite finds in an encoding nobody lists yet).

    python tools/explore_copy.py /tmp/g    # then run tests/gpu or tools/gpu_ablate.py in /tmp/g

The GPU suite runs only listed encodings, so a copy is how an unlisted one (bfloat16, today)
gets measured. Results from such a copy say so ("every float encoding listed on the device
copy"); the repository itself lists only what passed.
"""

from __future__ import annotations

import argparse
import re
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The encoding sets of the arch configs: a `SUPPORTED_ENCODINGS` class attribute.
LISTING = re.compile(
    r'^(\s*SUPPORTED_ENCODINGS(?::[^=]+)?\s*=\s*(?:frozenset\()?)\{([^}]*)\}',
    re.MULTILINE,
)


def widen(text: str) -> tuple[str, int]:
    """Every listing in `text` with the three float encodings added to what it lists."""

    def add_floats(match: re.Match[str]) -> str:
        listed = set(re.findall(r'"([^"]+)"', match.group(2)))
        names = sorted(listed | {"float32", "float16", "bfloat16"})
        return match.group(1) + "{" + ", ".join(f'"{n}"' for n in names) + "}"

    return LISTING.subn(add_floats, text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dest", type=Path)
    args = parser.parse_args()
    ignore = shutil.ignore_patterns(".git", ".venv", ".gpu", ".whl", "__pycache__", ".nox")
    shutil.copytree(ROOT, args.dest, ignore=ignore, dirs_exist_ok=True)
    for path in [args.dest / "common" / "arch_config.py", *args.dest.glob("families/*/*.py")]:
        text, count = widen(path.read_text())
        if count:
            path.write_text(text)
            for line in text.splitlines():
                if LISTING.match(line):
                    print(f"{path.relative_to(args.dest)}: {line.strip()}")


if __name__ == "__main__":
    main()
