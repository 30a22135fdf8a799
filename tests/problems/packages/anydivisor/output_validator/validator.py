#!/usr/bin/env python3
"""Kattis output validator: argv = input_file answer_file feedback_dir [args...];
team output on stdin; exit 42 = accepted, 43 = wrong answer."""

import os
import re
import sys


def verdict(code, msg):
    with open(os.path.join(sys.argv[3], "judgemessage.txt"), "a") as f:
        f.write(msg + "\n")
    sys.exit(code)


def main():
    with open(sys.argv[1]) as f:
        n = int(f.read().split()[0])
    tokens = sys.stdin.buffer.read(1 << 20).split()  # bytes: robust to non-UTF-8 output
    if len(tokens) != 1:
        verdict(43, f"expected exactly one token, got {len(tokens)}")
    tok = tokens[0]
    if not re.fullmatch(rb"-?\d{1,20}", tok):
        verdict(43, f"not an integer: {tok[:50]!r}")
    d = int(tok)
    if not 1 < d < n:
        verdict(43, f"divisor {d} out of range (1, {n})")
    if n % d != 0:
        verdict(43, f"{d} does not divide {n}")
    verdict(42, f"OK: {d} divides {n}")


if __name__ == "__main__":
    main()
