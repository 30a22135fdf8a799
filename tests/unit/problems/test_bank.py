"""Unit tests of tq.problems.bank: output matching and the reference solutions."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tq.problems.bank import (
    container_with_most_water,
    maximum_subarray,
    median_of_two_sorted_arrays,
    merge_k_sorted_lists,
    n_queens,
    outputs_match,
    regular_expression_matching,
    reverse_string,
    sliding_window_maximum,
    trapping_rain_water,
    two_sum,
    valid_palindrome,
)


def test_outputs_match_by_lines() -> None:
    assert outputs_match("1\n2  \n\n", "1\n2\n")
    assert not outputs_match("1\n3\n", "1\n2\n")
    assert not outputs_match("12\n", "1\n2\n")


@pytest.mark.parametrize(
    ("solve", "data", "expected"),
    [
        (two_sum, "2 7 11 15\n9", "0 1"),
        (two_sum, "3 2 4\n6", "1 2"),
        (two_sum, "3 3\n6", "0 1"),
        (reverse_string, "hello\n", "olleh"),
        (valid_palindrome, "A man, a plan, a canal: Panama\n", "true"),
        (valid_palindrome, "race a car", "false"),
        (valid_palindrome, " ", "true"),
        (valid_palindrome, "0P", "false"),
        (maximum_subarray, "-2 1 -3 4 -1 2 1 -5 4", "6"),
        (maximum_subarray, "5 4 -1 7 8", "23"),
        (maximum_subarray, "-3 -2 -5", "-2"),
        (container_with_most_water, "1 8 6 2 5 4 8 3 7", "49"),
        (container_with_most_water, "1 1", "1"),
        (trapping_rain_water, "0 1 0 2 1 0 1 3 2 1 2 1", "6"),
        (trapping_rain_water, "4 2 0 3 2 5", "9"),
        (trapping_rain_water, "1 2 3", "0"),
        (median_of_two_sorted_arrays, "1 3\n2", "2.0"),
        (median_of_two_sorted_arrays, "1 2\n3 4", "2.5"),
        (median_of_two_sorted_arrays, "\n1", "1.0"),
        (median_of_two_sorted_arrays, "1 2", "1.5"),  # the second line may be missing
        (merge_k_sorted_lists, "3\n1 4 5\n1 3 4\n2 6", "1 1 2 3 4 4 5 6"),
        (merge_k_sorted_lists, "2\n\n1", "1"),
        (merge_k_sorted_lists, "3\n1 2", "1 2"),  # missing lists are empty
        (merge_k_sorted_lists, "0", ""),
        (sliding_window_maximum, "1 3 -1 -3 5 3 6 7\n3", "3 3 5 5 6 7"),
        (sliding_window_maximum, "9 8 7 6\n2", "9 8 7"),
        (sliding_window_maximum, "4 3\n1", "4 3"),
        (regular_expression_matching, "aa\na", "false"),
        (regular_expression_matching, "aa\na*", "true"),
        (regular_expression_matching, "ab\n.*", "true"),
        (regular_expression_matching, "aab\nc*a*b", "true"),
        (regular_expression_matching, "mississippi\nmis*is*p*.", "false"),
        (regular_expression_matching, "\na*", "true"),
        (regular_expression_matching, "a\n", "false"),
        (n_queens, "1", "1"),
        (n_queens, "3", "0"),
        (n_queens, "4\n", "2"),
        (n_queens, "6", "4"),
        (n_queens, "8", "92"),
    ],
)
def test_reference_solutions_give_the_classic_answers(
    solve: Callable[[str], str], data: str, expected: str
) -> None:
    assert solve(data) == expected


def test_two_sum_without_a_pair_is_an_error() -> None:
    with pytest.raises(ValueError, match="no pair"):
        two_sum("1 2\n10")
