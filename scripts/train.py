#!/usr/bin/env python
"""Train a style network from a script; takes the same arguments as `vidstyle train`.

    python scripts/train.py ../shared/data/styles/starry_night.jpg --data ../shared/data/train \\
        -o weights/starry_night.safetensors --width 16 --iterations 1500
"""

import sys

from vidstyle.cli import main

if __name__ == "__main__":
    main(["train", *sys.argv[1:]])
