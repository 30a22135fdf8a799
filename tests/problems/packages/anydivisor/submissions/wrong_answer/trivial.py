n = int(input())
# prints a trivial divisor: 1 for even n, n itself for odd n
print(1 if n % 2 == 0 else n)
