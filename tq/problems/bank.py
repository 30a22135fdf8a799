"""The problem bank: statements written for this project, and tests judged over stdin/stdout.

Every program reads its input from stdin and prints its answer, so one set of tests judges every
language. Expected outputs are not typed in by hand: each problem has a reference solution here
(trusted code of ours, run once at import) that computes them from the inputs.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Literal

from tq.problems.judging import JudgeSpec, TestCase, lines_match

ProblemDifficulty = Literal["Easy", "Medium", "Hard"]


@dataclass(frozen=True)
class Example:
    input: str
    output: str
    explanation: str | None = None


@dataclass(frozen=True)
class LibraryProblem:
    slug: str
    title: str
    difficulty: ProblemDifficulty
    category: str
    text: str
    notes: tuple[str, ...]
    input_format: str
    output_format: str
    constraints: tuple[str, ...]
    examples: tuple[Example, ...]
    tests: tuple[TestCase, ...]


def _ints(line: str) -> list[int]:
    return [int(x) for x in line.split()]


# --- reference solutions: stdin text → expected stdout text


def two_sum(data: str) -> str:
    lines = data.splitlines()
    nums, target = _ints(lines[0]), int(lines[1])
    seen: dict[int, int] = {}
    for i, n in enumerate(nums):
        if target - n in seen:
            return f"{seen[target - n]} {i}"
        seen.setdefault(n, i)
    raise ValueError("no pair")


def reverse_string(data: str) -> str:
    return data.rstrip("\n")[::-1]


def valid_palindrome(data: str) -> str:
    kept = [c.lower() for c in data.rstrip("\n") if c.isalnum()]
    return "true" if kept == kept[::-1] else "false"


def maximum_subarray(data: str) -> str:
    best = current = None
    for n in _ints(data):
        current = n if current is None or current < 0 else current + n
        best = current if best is None else max(best, current)
    return str(best)


def container_with_most_water(data: str) -> str:
    h = _ints(data)
    i, j, best = 0, len(h) - 1, 0
    while i < j:
        best = max(best, (j - i) * min(h[i], h[j]))
        if h[i] < h[j]:
            i += 1
        else:
            j -= 1
    return str(best)


def trapping_rain_water(data: str) -> str:
    h = _ints(data)
    left = right = water = 0
    i, j = 0, len(h) - 1
    while i <= j:
        if left <= right:
            left = max(left, h[i])
            water += left - h[i]
            i += 1
        else:
            right = max(right, h[j])
            water += right - h[j]
            j -= 1
    return str(water)


def median_of_two_sorted_arrays(data: str) -> str:
    lines = [*data.splitlines(), "", ""][:2]
    merged = sorted(_ints(lines[0]) + _ints(lines[1]))
    n = len(merged)
    middle = merged[n // 2] if n % 2 else (merged[n // 2 - 1] + merged[n // 2]) / 2
    return f"{float(middle):.1f}"


def merge_k_sorted_lists(data: str) -> str:
    lines = data.splitlines()
    k = int(lines[0])
    lists = [_ints(line) for line in (lines[1:] + [""] * k)[:k]]
    return " ".join(str(n) for n in heapq.merge(*lists))


def sliding_window_maximum(data: str) -> str:
    lines = data.splitlines()
    nums, k = _ints(lines[0]), int(lines[1])
    window: deque[int] = deque()
    out = []
    for i, n in enumerate(nums):
        while window and nums[window[-1]] <= n:
            window.pop()
        window.append(i)
        if window[0] <= i - k:
            window.popleft()
        if i >= k - 1:
            out.append(nums[window[0]])
    return " ".join(map(str, out))


def regular_expression_matching(data: str) -> str:
    lines = [*data.split("\n"), "", ""][:2]
    s, p = lines[0], lines[1]

    @cache
    def match(i: int, j: int) -> bool:
        if j == len(p):
            return i == len(s)
        first = i < len(s) and p[j] in (s[i], ".")
        if j + 1 < len(p) and p[j + 1] == "*":
            return match(i, j + 2) or (first and match(i + 1, j))
        return first and match(i + 1, j + 1)

    return "true" if match(0, 0) else "false"


def n_queens(data: str) -> str:
    n = int(data.strip())

    def place(row: int, cols: int, diag: int, anti: int) -> int:
        if row == n:
            return 1
        count = 0
        free = ~(cols | diag | anti) & ((1 << n) - 1)
        while free:
            bit = free & -free
            free ^= bit
            count += place(row + 1, cols | bit, (diag | bit) << 1, (anti | bit) >> 1)
        return count

    return str(place(0, 0, 0, 0))


def _cases(
    solve: Callable[[str], str], shown: list[str], hidden: list[str]
) -> tuple[TestCase, ...]:
    return tuple(
        TestCase(input=text if text.endswith("\n") else text + "\n", expected=solve(text), hidden=h)
        for texts, h in ((shown, False), (hidden, True))
        for text in texts
    )


def _examples(
    solve: Callable[[str], str], shown: list[str], notes: list[str | None]
) -> tuple[Example, ...]:
    return tuple(
        Example(input=text, output=solve(text), explanation=note)
        for text, note in zip(shown, notes, strict=True)
    )


def _problem(
    slug: str,
    title: str,
    difficulty: ProblemDifficulty,
    category: str,
    text: str,
    io: tuple[str, str],
    constraints: tuple[str, ...],
    solve: Callable[[str], str],
    shown: list[str],
    explanations: list[str | None],
    hidden: list[str],
    notes: tuple[str, ...] = (),
) -> LibraryProblem:
    return LibraryProblem(
        slug=slug,
        title=title,
        difficulty=difficulty,
        category=category,
        text=text,
        notes=notes,
        input_format=io[0],
        output_format=io[1],
        constraints=constraints,
        examples=_examples(solve, shown, explanations),
        tests=_cases(solve, shown, hidden),
    )


_BIG = " ".join(str((i * 7919) % 2001 - 1000) for i in range(20000))
_HEIGHTS = " ".join(str((i * 37) % 1000) for i in range(30000))

PROBLEMS: tuple[LibraryProblem, ...] = (
    _problem(
        "two-sum",
        "Two Sum",
        "Easy",
        "Array • Hash Table",
        "Given a list of integers and a target, find the two positions whose values add up to "
        "the target. Exactly one such pair exists, and a position may not be used twice.",
        (
            "Line 1: the integers, separated by spaces. Line 2: the target.",
            "The two zero-based positions, smaller first, separated by a space.",
        ),
        ("2 ≤ n ≤ 10^4", "-10^9 ≤ value, target ≤ 10^9", "exactly one answer"),
        two_sum,
        ["2 7 11 15\n9", "3 2 4\n6"],
        ["2 + 7 = 9, at positions 0 and 1", None],
        [
            "3 3\n6",
            "1 5 9 14 -3\n11",
            "-1 -2 -3 -4 -5\n-8",
            "0 4 3 0\n0",
            "1 2 3 4 5 6 7 8 9 10\n19",
        ],
        notes=("Aim for one pass over the list.",),
    ),
    _problem(
        "reverse-string",
        "Reverse String",
        "Easy",
        "String • Two Pointers",
        "Print the given line of text with its characters in the opposite order.",
        ("One line of printable ASCII text.", "The same characters, last one first."),
        ("1 ≤ length ≤ 10^5",),
        reverse_string,
        ["hello", "Hannah"],
        [None, None],
        ["a", "ab", "racecar", "Talent Quotient 2026", "x" * 5000 + "y"],
    ),
    _problem(
        "valid-palindrome",
        "Valid Palindrome",
        "Easy",
        "String • Two Pointers",
        "Decide whether a line reads the same forwards and backwards once everything but letters "
        "and digits is dropped and upper case is treated as lower case.",
        ("One line of printable ASCII text.", "true or false"),
        ("1 ≤ length ≤ 2 x 10^5",),
        valid_palindrome,
        ["A man, a plan, a canal: Panama", "race a car"],
        ["amanaplanacanalpanama reads the same both ways", None],
        [" ", "0P", "ab_a", "No lemon, no melon", "Was it a car or a cat I saw?", "abcdba"],
    ),
    _problem(
        "maximum-subarray",
        "Maximum Subarray",
        "Medium",
        "Array • Dynamic Programming",
        "Find the largest sum of a non-empty run of consecutive integers in the list.",
        ("One line: the integers, separated by spaces.", "The largest sum."),
        ("1 ≤ n ≤ 10^5", "-10^4 ≤ value ≤ 10^4"),
        maximum_subarray,
        ["-2 1 -3 4 -1 2 1 -5 4", "1"],
        ["the run 4 -1 2 1 sums to 6", None],
        ["5 4 -1 7 8", "-3 -2 -5", "-1", "0 0 0", _BIG],
    ),
    _problem(
        "container-with-most-water",
        "Container With Most Water",
        "Medium",
        "Array • Two Pointers",
        "Vertical walls stand at positions 0, 1, 2, … with the given heights. Choose two walls "
        "so that, with the ground, they hold the most water, and print that amount (width times "
        "the lower wall).",
        ("One line: the heights, separated by spaces.", "The largest amount of water."),
        ("2 ≤ n ≤ 10^5", "0 ≤ height ≤ 10^4"),
        container_with_most_water,
        ["1 8 6 2 5 4 8 3 7", "1 1"],
        ["walls at 1 and 8: width 7 x height 7 = 49", None],
        ["4 3 2 1 4", "1 2 1", "0 0", "2 3 10 5 7 8 9", _HEIGHTS],
    ),
    _problem(
        "trapping-rain-water",
        "Trapping Rain Water",
        "Hard",
        "Array • Two Pointers • Stack",
        "Bars of width 1 stand side by side with the given heights. After heavy rain, how many "
        "units of water stay between them?",
        ("One line: the heights, separated by spaces.", "The units of water held."),
        ("1 ≤ n ≤ 2 x 10^4", "0 ≤ height ≤ 10^5"),
        trapping_rain_water,
        ["0 1 0 2 1 0 1 3 2 1 2 1", "4 2 0 3 2 5"],
        [None, None],
        ["1", "5 4 3 2 1", "1 2 3 4 5", "3 0 3", "2 0 2 0 2", _HEIGHTS],
    ),
    _problem(
        "median-of-two-sorted-arrays",
        "Median of Two Sorted Arrays",
        "Hard",
        "Array • Binary Search",
        "Two lists, each sorted ascending, are given. Print the median of all their values "
        "together, with one decimal. Aim for logarithmic time.",
        (
            "Line 1: the first list (may be empty). Line 2: the second list (may be empty).",
            "The median with exactly one digit after the point, e.g. 2.0 or 2.5.",
        ),
        ("0 ≤ m, n ≤ 1000", "1 ≤ m + n"),
        median_of_two_sorted_arrays,
        ["1 3\n2", "1 2\n3 4"],
        ["all values: 1 2 3, median 2", "all values: 1 2 3 4, median (2 + 3) / 2"],
        ["\n1", "2\n", "0 0\n0 0", "1 5 9\n2 3 4 10 11", "-5 -3\n-4 100 200"],
    ),
    _problem(
        "merge-k-sorted-lists",
        "Merge k Sorted Lists",
        "Hard",
        "Linked List • Heap",
        "k lists are each sorted ascending. Print all their values as one ascending list.",
        (
            "Line 1: k. Then k lines, one list each (a line may be empty).",
            "All values ascending, separated by spaces (an empty line when there are none).",
        ),
        ("0 ≤ k ≤ 10^4", "0 ≤ total values ≤ 10^4"),
        merge_k_sorted_lists,
        ["3\n1 4 5\n1 3 4\n2 6", "0"],
        [None, None],
        ["1\n", "2\n\n1", "3\n-3 -1\n-2\n0 0 0", "4\n1 2 3\n4 5 6\n7 8 9\n10"],
    ),
    _problem(
        "sliding-window-maximum",
        "Sliding Window Maximum",
        "Hard",
        "Array • Queue • Sliding Window",
        "A window of k consecutive values slides over the list from left to right, one step at "
        "a time. Print the largest value in each window position.",
        (
            "Line 1: the integers. Line 2: k.",
            "The maximum of each window, separated by spaces.",
        ),
        ("1 ≤ k ≤ n ≤ 10^5",),
        sliding_window_maximum,
        ["1 3 -1 -3 5 3 6 7\n3", "1\n1"],
        [None, None],
        ["9 11\n2", "4 -2\n2", "1 3 1 2 0 5\n3", "7 2 4\n1", _BIG + "\n50"],
    ),
    _problem(
        "regular-expression-matching",
        "Regular Expression Matching",
        "Hard",
        "String • Dynamic Programming",
        "Decide whether a pattern matches a whole string. In the pattern, '.' matches any one "
        "character and 'x*' matches zero or more of the character x before it.",
        ("Line 1: the string. Line 2: the pattern.", "true or false"),
        ("0 ≤ lengths ≤ 30", "letters a-z, '.' and '*' only"),
        regular_expression_matching,
        ["aa\na", "aa\na*"],
        ["a matches only one character", "a* matches any run of a"],
        ["ab\n.*", "aab\nc*a*b", "mississippi\nmis*is*p*.", "\na*", "abcd\nd*"],
    ),
    _problem(
        "n-queens",
        "N-Queens",
        "Hard",
        "Backtracking",
        "In how many ways can n queens stand on an n x n board so that none attacks another "
        "(no two share a row, a column or a diagonal)?",
        ("One line: n.", "The number of arrangements."),
        ("1 ≤ n ≤ 12",),
        n_queens,
        ["4", "1"],
        ["two arrangements exist on a 4 x 4 board", None],
        ["2", "3", "5", "6", "8", "10"],
    ),
)

BY_SLUG: dict[str, LibraryProblem] = {problem.slug: problem for problem in PROBLEMS}

# A program that reads stdin and prints, per language: the starting point of every problem.
STARTER_CODE: dict[str, str] = {
    "python": "import sys\n\n\ndef main() -> None:\n    data = sys.stdin.read()\n"
    "    # {hint}\n    print(data.strip())\n\n\nmain()\n",
    "javascript": "const data = require('fs').readFileSync(0, 'utf8');\n// {hint}\n"
    "console.log(data.trim());\n",
    "java": "import java.io.*;\nimport java.util.*;\n\npublic class Main {\n"
    "    public static void main(String[] args) throws IOException {\n"
    "        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));\n"
    "        // {hint}\n        System.out.println(in.readLine());\n    }\n}\n",
    "c": "#include <stdio.h>\n\nint main(void) {\n    char line[1 << 16];\n    // {hint}\n"
    '    if (fgets(line, sizeof line, stdin)) printf("%s", line);\n    return 0;\n}\n',
    "cpp": "#include <bits/stdc++.h>\nusing namespace std;\n\nint main() {\n    string line;\n"
    "    // {hint}\n    getline(cin, line);\n    cout << line << endl;\n}\n",
    "php": "<?php\n$data = stream_get_contents(STDIN);\n// {hint}\necho trim($data), PHP_EOL;\n",
    "go": 'package main\n\nimport (\n\t"bufio"\n\t"fmt"\n\t"os"\n)\n\nfunc main() {\n'
    "\tin := bufio.NewReader(os.Stdin)\n\t// {hint}\n\tline, _ := in.ReadString('\\n')\n"
    "\tfmt.Print(line)\n}\n",
    "ruby": "data = STDIN.read\n# {hint}\nputs data.strip\n",
    "rust": "use std::io::Read;\n\nfn main() {\n    let mut data = String::new();\n"
    "    std::io::stdin().read_to_string(&mut data).unwrap();\n    // {hint}\n"
    '    println!("{}", data.trim());\n}\n',
}


def starter_code(problem: LibraryProblem) -> dict[str, str]:
    hint = f"Input: {problem.input_format} Output: {problem.output_format}"
    return {language: code.replace("{hint}", hint) for language, code in STARTER_CODE.items()}


def judging(problem: LibraryProblem) -> JudgeSpec:
    """The library judges by lines, with the runner's own limits."""
    return JudgeSpec(tests=problem.tests, comparison="lines")


# The library's comparison, for its own tests and the reference solutions.
outputs_match = lines_match
