"""mkzip.py ROOT OUT: zip a directory tree with entries stored, not deflated,
so that the host reads files without inflating them. Directories get entries
too (the host lists them), in a fixed order so the result is reproducible."""

import os
import sys
import zipfile


def main(root: str, out: str) -> None:
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            rel = os.path.relpath(dirpath, root)
            if rel != ".":
                z.writestr(zipfile.ZipInfo(rel + "/", (1980, 1, 1, 0, 0, 0)), b"")
            for name in sorted(filenames):
                path = os.path.join(dirpath, name)
                if not os.path.isfile(path):
                    continue
                info = zipfile.ZipInfo(os.path.relpath(path, root), (1980, 1, 1, 0, 0, 0))
                info.external_attr = 0o644 << 16
                with open(path, "rb") as f:
                    z.writestr(info, f.read())


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
