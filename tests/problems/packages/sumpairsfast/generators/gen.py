"""Generates data/secret/*.in deterministically: python3 generators/gen.py <package_dir>"""

import os
import random
import sys

root = sys.argv[1] if len(sys.argv) > 1 else "."
sec = os.path.join(root, "data", "secret")


def write(name, t, a):
    with open(os.path.join(sec, name + ".in"), "w") as f:
        f.write(f"{len(a)} {t}\n" + " ".join(map(str, a)) + "\n")


rnd = random.Random(20250901)
write("01-single", 0, [0])
write("02-all-equal-small", 10, [5] * 7)
write("03-no-pairs", 3, [2, 2, 2, 4, 6])
write("04-random-small", 50, [rnd.randint(0, 50) for _ in range(200)])
write("05-random-medium", 1000000, [rnd.randint(0, 1000000) for _ in range(5000)])
write("06-max-answer", 2000000, [1000000] * 200000)
write("07-random-large", 1000000, [rnd.randint(0, 1000000) for _ in range(200000)])
write("08-dense-large", 1000, [rnd.randint(0, 1000) for _ in range(200000)])
