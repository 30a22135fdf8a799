# Correct logic, but recursion depth is n: RecursionError once n exceeds ~1000.
import sys
from collections import Counter

data = sys.stdin.buffer.read().split()
n, t = int(data[0]), int(data[1])
a = list(map(int, data[2 : 2 + n]))
seen = Counter()


def go(i):
    if i == n:
        return 0
    c = seen[t - a[i]]
    seen[a[i]] += 1
    return c + go(i + 1)


print(go(0))
