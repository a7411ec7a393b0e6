"""Regenerate the shipped normalisation constants of the paper's VGG-19 (``nst_edu/core/data/*.f32``).

Each constant c_l[f] is filter f's mean ReLU activation over the reference set (``vgg.reference_images``),
computed in float64 and rounded to float32 (``vgg.mean_activations``), so the files come out bit for bit the
same on every machine. ``--check`` compares instead of writing and exits 1 on a difference. Prints each
file's sha256, which ``vgg.NORM_FILES`` holds.

    python tools/vgg_norm_constants.py [--check]
"""

from __future__ import annotations

import argparse
import hashlib
import sys

from nst_edu.core import vgg


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the shipped files, write nothing")
    args = parser.parse_args(argv)
    state = vgg.load_caffe_state()
    status = 0
    for (weights, pooling), (name, _) in vgg.NORM_FILES.items():
        data = vgg.constants_to_bytes(vgg.mean_activations(state, weights, pooling))
        path = vgg.DATA / name
        sha = hashlib.sha256(data).hexdigest()
        if args.check:
            same = path.is_file() and path.read_bytes() == data
            print(f"{name}: {'same' if same else 'DIFFERENT'} ({sha})")
            status |= not same
        else:
            path.write_bytes(data)
            print(f"{name}: written, sha256 {sha}")
    return status


if __name__ == "__main__":
    sys.exit(main())
