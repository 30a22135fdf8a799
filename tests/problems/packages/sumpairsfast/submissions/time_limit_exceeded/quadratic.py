import sys

data = sys.stdin.buffer.read().split()
n, t = int(data[0]), int(data[1])
a = list(map(int, data[2 : 2 + n]))
pairs = 0
for i in range(n):
    for j in range(i + 1, n):
        if a[i] + a[j] == t:
            pairs += 1
print(pairs)
