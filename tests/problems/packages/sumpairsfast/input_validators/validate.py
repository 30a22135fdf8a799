import re, sys

data = sys.stdin.read()
INT = r"(0|[1-9]\d*)"
m = re.fullmatch(INT + " " + INT + r"\n((?:" + INT + r" )*" + INT + r")\n", data)
if not m:
    sys.exit(43)
n, t = int(m.group(1)), int(m.group(2))
a = m.group(3).split(" ")
if not (1 <= n <= 200000 and 0 <= t <= 2000000 and len(a) == n):
    sys.exit(43)
if any(int(x) > 1000000 for x in a):
    sys.exit(43)
sys.exit(42)
