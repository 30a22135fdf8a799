import re, sys

data = sys.stdin.read()
m = re.fullmatch(r"(-?\d+) (-?\d+)\n", data)
if not m:
    sys.exit(43)
for g in m.groups():
    if g.startswith("-0") or (len(g.lstrip("-")) > 1 and g.lstrip("-")[0] == "0"):
        sys.exit(43)
    if not -(10**9) <= int(g) <= 10**9:
        sys.exit(43)
sys.exit(42)
