import re, sys

data = sys.stdin.read()
if not re.fullmatch(r"[1-9]\d*\n", data):
    sys.exit(43)
n = int(data)
if not 2 <= n <= 10**9:
    sys.exit(43)
d = 2
while d * d <= n and n % d:
    d += 1
if d * d > n:  # n is prime: tests must be composite
    sys.exit(43)
sys.exit(42)
