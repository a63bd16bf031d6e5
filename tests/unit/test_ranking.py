from __future__ import annotations

from datalake.tmdb.ranking import DiscoverQuery, cut_is_final, rank


def series(id_: int, average: float, count: int) -> dict:
    return {"id": id_, "vote_average": average, "vote_count": count}


def test_query_asks_tmdb_for_the_documented_discover_parameters():
    assert DiscoverQuery().params(page=3) == {
        "language": "pt-BR",
        "sort_by": "vote_average.desc",
        "with_genres": 16,
        "with_origin_country": "JP",
        "vote_count.gte": 200,
        "include_adult": "false",
        "page": 3,
    }


def test_rank_breaks_ties_by_vote_count_then_id():
    results = [series(30, 8.7, 500), series(20, 8.7, 900), series(10, 8.7, 500), series(40, 8.9, 100)]
    assert [s["id"] for s in rank(results, 10)] == [40, 20, 10, 30]


def test_rank_ignores_input_order_and_duplicates():
    results = [series(1, 8.0, 300), series(2, 8.5, 300), series(1, 8.0, 300)]
    assert [s["id"] for s in rank(results, 10)] == [2, 1]
    assert [s["id"] for s in rank(list(reversed(results)), 1)] == [2]


def test_cut_is_final_when_the_page_ends_below_the_nth_score():
    page = [series(i, 9.0 - i / 10, 300) for i in range(5)]
    assert cut_is_final(page, page, top_n=3)


def test_cut_is_not_final_while_a_tie_with_the_nth_may_continue():
    page = [series(1, 9.0, 300), series(2, 8.5, 300), series(3, 8.5, 200)]
    assert not cut_is_final(page, page, top_n=2)


def test_cut_is_not_final_with_fewer_than_n_seen():
    page = [series(1, 9.0, 300)]
    assert not cut_is_final(page, page, top_n=2)


def test_an_empty_page_ends_the_search():
    assert cut_is_final([series(1, 9.0, 300)], [], top_n=2)
