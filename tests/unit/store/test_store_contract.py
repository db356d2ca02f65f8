"""The contract every AnnotationStore backend passes (PostgreSQL will join the params)."""

from __future__ import annotations

import hashlib
import multiprocessing
import sqlite3
import threading

import pytest

from assisted_labeling.errors import (
    AuthenticationError,
    ConflictError,
    NotFoundError,
    TooManyAttemptsError,
    ValidationError,
)
from assisted_labeling.store import Item, Status, accounts
from assisted_labeling.store.sqlite import SQLiteStore


@pytest.fixture(params=["sqlite"])
def make_store(request, tmp_path):
    stores = []

    def make(name: str = "labels.db"):
        store = SQLiteStore(tmp_path / name)
        stores.append(store)
        return store

    yield make
    for store in stores:
        store.close()


@pytest.fixture
def store(make_store):
    return make_store()


def items(n: int, prefix: str = "k") -> list[Item]:
    return [Item(f"{prefix}{i}", {"i": i}) for i in range(n)]


def test_add_items_counts_only_new_keys(store):
    assert store.add_items(items(5)) == 5
    assert store.add_items(items(7)) == 2
    assert store.stats().total == 7
    assert store.get_item("k3").data == {"i": 3}


def test_get_unknown_item_is_not_found(store):
    with pytest.raises(NotFoundError, match='"nope"'):
        store.get_item("nope")


def test_scored_items_first_by_decreasing_priority_then_unscored(store):
    store.add_items(items(6))
    store.set_priorities([("k4", 0.9), ("k1", 0.5), ("k2", 0.7)])
    keys = [i.key for i in store.next_items("u", count=6)]
    assert keys[:3] == ["k4", "k2", "k1"]
    assert sorted(keys[3:]) == ["k0", "k3", "k5"]
    assert store.get_item("k4").priority == 0.9


def test_any_finite_priority_ranks_before_unscored_items_and_after_waiting_ones(store):
    """Queries made by other tools may hold any number: -7 is still scored, and 1e308
    does not pass an item waiting for its second annotator."""
    store.add_items(items(7), annotators_per_item=2)
    store.set_priorities([("k6", 0.1)])
    store.next_items("a")
    store.save_label("a", "k6", "x", ["x"])  # now waiting for a second annotator
    store.set_priorities([("k0", -0.5), ("k1", -1.0), ("k2", -7.0), ("k3", -1e308),
                          ("k4", 1e308)])
    keys = [i.key for i in store.next_items("b", count=7)]
    assert keys == ["k6", "k4", "k0", "k1", "k2", "k3", "k5"]
    for key in keys:
        store.release("b", key)
    # The extremes keep their order too, whatever order they were given in.
    store.set_priorities([("k0", -1e308), ("k1", -1e300), ("k2", 1e300), ("k3", 1e308)])
    assert [i.key for i in store.next_items("c", count=5)] == ["k6", "k3", "k2", "k1", "k0"]


def test_a_missing_or_nan_priority_leaves_the_item_unscored(store):
    # A queries row with an empty uncertainty cell: served after the scored items, and
    # nothing that JSON cannot carry (NaN, infinity) is kept to show.
    store.add_items(items(4))
    done = store.set_priorities([("k0", None), ("k1", float("nan"), float("nan")),
                                 ("k2", 0.5, float("inf"))])
    assert done.items == 1 and done.unmatched == 0  # scored: k2 alone
    assert [i.key for i in store.next_items("u", count=1)] == ["k2"]
    for key in ("k0", "k1"):
        assert store.get_item(key).priority is None
        assert store.get_item(key).uncertainty is None
    assert store.get_item("k2").uncertainty is None


def test_new_priorities_replace_old_ones(store):
    store.add_items(items(3))
    store.set_priorities([("k0", 0.9)])
    store.set_priorities([("k2", 0.8)])
    assert store.next_items("u", count=1)[0].key == "k2"
    assert store.get_item("k0").priority is None


def test_tied_priorities_keep_the_order_they_were_given_in(store):
    # A sampler writes its queries in the order it means them to be asked (images with no
    # box all at 1.0, a cold-start batch): ties must not be reshuffled.
    given = ["t6", "t4", "t3", "t5", "t0", "t2", "t7", "t1"]
    store.add_items(items(8, "t") + items(4))
    store.set_priorities([("k0", 0.5)] + [(key, 1.0) for key in given] + [("k1", 0.5)])
    keys = [i.key for i in store.next_items("u", count=12)]
    assert keys[:10] == [*given, "k0", "k1"]
    assert sorted(keys[10:]) == ["k2", "k3"]
    # A new ranking brings its own order.
    for key in keys:
        store.release("u", key)
    store.set_priorities([(key, 1.0) for key in reversed(given)])
    assert [i.key for i in store.next_items("v", count=8)] == given[::-1]


def test_shown_uncertainty_is_given_apart_from_the_order(store):
    store.add_items(items(4))
    store.set_priorities([("k0", 0.9, 0.1), ("k1", 0.8, None), ("k2", 0.7, float("nan")),
                          ("k3", 0.6)])
    served = store.next_items("u", count=4)
    assert [(i.key, i.priority, i.uncertainty) for i in served] == [
        ("k0", 0.9, 0.1), ("k1", 0.8, None), ("k2", 0.7, None), ("k3", 0.6, 0.6)]
    assert store.get_item("k0").uncertainty == 0.1
    store.set_priorities([("k3", 0.5, 0.2)])  # the others lose both
    assert [(store.get_item(k).priority, store.get_item(k).uncertainty)
            for k in ("k0", "k3")] == [(None, None), (0.5, 0.2)]


def test_random_order_is_stable(store):
    store.add_items(items(20))
    first = [i.key for i in store.next_items("a", count=20)]
    for item in first:
        store.release("a", item)
    again = [i.key for i in store.next_items("b", count=20)]
    assert first == again
    assert first != sorted(first, key=lambda k: int(k[1:]))  # shuffled, not file order


def test_two_users_never_get_the_same_item(store):
    store.add_items(items(10))
    a = {i.key for i in store.next_items("a", count=4)}
    b = {i.key for i in store.next_items("b", count=4)}
    assert len(a) == len(b) == 4 and not a & b
    c = {i.key for i in store.next_items("c", count=4)}
    assert len(c) == 2 and not c & (a | b)


def test_items_needing_two_annotators_go_to_two_users_only(store):
    store.add_items(items(1), annotators_per_item=2)
    assert [i.key for i in store.next_items("a")] == ["k0"]
    assert [i.key for i in store.next_items("b")] == ["k0"]
    assert store.next_items("c") == []
    store.save_label("a", "k0", "x", ["x"])
    store.save_label("b", "k0", "y", ["y"])
    stats = store.stats()
    assert (stats.complete, stats.labeled, stats.remaining) == (1, 2, 0)


def test_items_waiting_for_more_annotators_come_before_new_ones(store):
    # Overlaps complete (agreement, review) instead of waiting behind the whole queue,
    # and a new ranking (samplers leave labeled items out) does not bury them.
    store.add_items(items(4), annotators_per_item=2)
    store.set_priorities([("k1", 0.9), ("k0", 0.8), ("k2", 0.1), ("k3", 0.05)])
    assert [i.key for i in store.next_items("a")] == ["k1"]
    store.save_label("a", "k1", "x", ["x"])
    store.next_items("a")
    store.save_skip("a", "k0")  # a skip is no annotation: k0 keeps its rank
    store.set_priorities([("k3", 0.7), ("k0", 0.6)])
    assert [i.key for i in store.next_items("b", count=4)] == ["k1", "k3", "k0", "k2"]
    for key in ("k1", "k3", "k0", "k2"):
        store.release("b", key)
    # Named by a ranking, it still comes first, and shows its new uncertainty.
    store.set_priorities([("k3", 0.7), ("k0", 0.6), ("k1", 0.01)])
    assert [i.key for i in store.next_items("b", count=4)] == ["k1", "k3", "k0", "k2"]
    assert store.get_item("k1").uncertainty == pytest.approx(0.01)
    # Complete: nobody gets it again. Labeled by one, then skipped: back to its rank.
    store.save_label("b", "k1", "x", ["x"])
    store.save_label("b", "k3", "x", ["x"])
    store.save_skip("b", "k3")
    store.set_priorities([("k3", 0.7), ("k0", 0.6)])
    assert [i.key for i in store.next_items("c", count=4)] == ["k3", "k0", "k2"]


def test_a_labeler_ahead_of_the_others_gets_new_items_past_the_waiting_window(store,
                                                                            monkeypatch):
    import assisted_labeling.store.sqlite as sqlite_store

    monkeypatch.setattr(sqlite_store, "_STARTED_WINDOW", 2)
    store.add_items(items(6), annotators_per_item=2)
    store.set_priorities([(f"k{i}", 1 - i / 10) for i in range(6)])
    for key in ("k0", "k1", "k2"):
        store.save_label("a", key, "x", ["x"])
    assert [i.key for i in store.next_items("a", count=2)] == ["k3", "k4"]
    assert [i.key for i in store.next_items("b", count=2)] == ["k0", "k1"]


def test_more_annotators_per_item_puts_labeled_items_first(store):
    store.add_items(items(3))
    store.set_priorities([("k0", 0.9), ("k1", 0.5), ("k2", 0.1)])
    store.next_items("a")
    store.save_label("a", "k2", "x", ["x"])
    store.set_annotators_per_item(2)
    assert [i.key for i in store.next_items("b", count=3)] == ["k2", "k0", "k1"]


def test_next_returns_the_users_reservations_first(store):
    store.add_items(items(10))
    first = [i.key for i in store.next_items("a", count=3)]
    assert [i.key for i in store.next_items("a", count=3)] == first
    assert [i.key for i in store.next_items("a", count=1)] == first[:1]


def test_reservations_expire(store):
    store.add_items(items(1))
    assert store.next_items("a", lease_seconds=60, now=1000.0)
    assert store.next_items("b", now=1030.0) == []
    assert [i.key for i in store.next_items("b", now=1061.0)] == ["k0"]


def test_a_page_still_open_keeps_its_items(store):
    """Renewing a user's leases (their page is open, the labeler reading) keeps the
    items from the others; someone else's leases are not touched."""
    store.add_items(items(2))
    [a_item] = store.next_items("a", lease_seconds=60, now=1000.0)
    [c_item] = store.next_items("c", lease_seconds=60, now=1000.0)
    assert store.renew_leases("a", lease_seconds=60, now=1050.0) == 1
    # At 1070 a's item is still a's; c's lease ran out at 1060.
    assert store.next_items("b", count=2, now=1070.0) == [c_item]
    assert a_item != c_item
    assert store.renew_leases("nobody", now=1080.0) == 0


def test_release_gives_the_item_back(store):
    store.add_items(items(1))
    store.next_items("a")
    store.release("a", "k0")
    assert [i.key for i in store.next_items("b")] == ["k0"]


def test_an_account_that_may_label_no_more_gives_its_reservations_back(store):
    store.add_items(items(4))
    store.add_user("ann", "annotator", "s3cret-pass")
    store.add_user("bob", "annotator", "s3cret-pass")
    assert len(store.next_items("ann", count=2)) == 2
    assert len(store.next_items("bob", count=2)) == 2
    assert store.next_items("cy", count=4) == []  # everything is reserved
    store.set_role("ann", "reviewer")  # still labels: keeps them
    assert store.next_items("cy", count=4) == []
    store.set_role("ann", "viewer")
    assert len(store.next_items("cy", count=4)) == 2
    store.delete_user("bob")
    assert len(store.next_items("dee", count=4)) == 2
    assert store.stats().remaining == 4  # nothing was labeled meanwhile


def test_next_skips_what_the_user_did(store):
    store.add_items(items(3), annotators_per_item=2)
    store.save_label("a", "k0", "x", ["x"])
    store.save_skip("a", "k1")
    assert [i.key for i in store.next_items("a", count=3)] == ["k2"]


def test_skipped_item_goes_to_someone_else(store):
    store.add_items(items(1))
    store.next_items("a")
    store.save_skip("a", "k0")
    assert [i.key for i in store.next_items("b")] == ["k0"]
    assert store.next_items("a") == []


def test_label_ids_increase_and_skips_take_none(store):
    store.add_items(items(4))
    first = store.save_label("u", "k0", "x", ["x"])
    skip = store.save_skip("u", "k1")
    second = store.save_label("u", "k2", "y", ["y"])
    assert (first.label_id, skip.label_id, second.label_id) == (1, None, 2)
    assert second.id > skip.id > first.id


def test_editing_keeps_ids_and_moves_class_counts(store):
    store.add_items(items(2))
    first = store.save_label("u", "k0", "x", ["x"], duration_ms=100)
    store.save_label("u", "k1", "x", ["x"])
    edited = store.save_label("u", "k0", "y", ["y"], comment="on second thought",
                              duration_ms=50)
    assert (edited.id, edited.label_id) == (first.id, first.label_id)
    assert edited.duration_ms == 150
    stats = store.stats("u")
    assert stats.per_class == {"x": 1, "y": 1}
    assert (stats.labeled, stats.complete, stats.mine["labeled"]) == (2, 2, 2)
    assert store.get_annotation("u", "k0").comment == "on second thought"


def test_a_save_without_a_comment_keeps_the_stored_one(store):
    store.add_items(items(1))
    assert store.save_label("u", "k0", "x", ["x"]).comment == ""
    store.save_label("u", "k0", "x", ["x"], comment="blurry")
    assert store.save_label("u", "k0", "y", ["y"]).comment == "blurry"
    assert store.save_skip("u", "k0").comment == "blurry"
    assert store.get_annotation("u", "k0").comment == "blurry"
    assert store.save_label("u", "k0", "y", ["y"], comment="").comment == ""
    assert store.get_annotation("u", "k0").comment == ""


def test_label_then_skip_then_label_keeps_counters_right(store):
    store.add_items(items(1))
    store.next_items("u")
    store.save_label("u", "k0", "x", ["x"])
    skipped = store.save_skip("u", "k0")
    assert skipped.label_id is None
    stats = store.stats("u")
    assert (stats.labeled, stats.skipped, stats.complete, stats.per_class) == (0, 1, 0, {})
    assert [i.key for i in store.next_items("v")] == ["k0"]  # open again
    relabeled = store.save_label("u", "k0", "y", ["y"])
    assert relabeled.label_id == 2
    stats = store.stats("u")
    assert (stats.labeled, stats.skipped, stats.mine) == (1, 0, {"labeled": 1, "skipped": 0})


def test_an_edited_label_keeps_its_session_and_a_label_after_a_skip_takes_the_new_one(store):
    # The every-n trigger counts the labels of the current session: correcting an old
    # label is no new label, labeling an item skipped earlier is one.
    store.add_items(items(2))
    store.save_label("u", "k0", "x", ["x"], session=0)
    store.save_skip("u", "k1", session=0)
    assert store.save_label("u", "k0", "y", ["y"], session=1).session == 0
    assert store.save_label("u", "k1", "y", ["y"], session=1).session == 1
    assert store.get_annotation("u", "k0").session == 0
    assert store.get_annotation("u", "k1").session == 1
    # Skipping a label and labeling it again in the new session makes it a new label.
    store.save_skip("u", "k0", session=1)
    assert store.save_label("u", "k0", "x", ["x"], session=1).session == 1


def test_multi_label_counts_each_class(store):
    store.add_items(items(1))
    store.save_label("u", "k0", '["x", "y"]', ["x", "y"])
    assert store.stats().per_class == {"x": 1, "y": 1}


def test_saving_an_unknown_item_is_not_found_and_changes_nothing(store):
    store.add_items(items(1))
    with pytest.raises(NotFoundError):
        store.save_label("u", "missing", "x", ["x"])
    assert store.stats().labeled == 0
    assert store.save_label("u", "k0", "x", ["x"]).label_id == 1


def test_history_pages_both_ways(store):
    store.add_items(items(5))
    ids = [store.save_label("u", f"k{i}", "x", ["x"]).id for i in range(5)]
    store.save_label("other", "k0", "y", ["y"])
    assert [a.id for a in store.history("u", limit=2)] == [ids[4], ids[3]]
    assert [a.id for a in store.history("u", before=ids[3], limit=2)] == [ids[2], ids[1]]
    assert [a.id for a in store.history("u", after=ids[1], limit=2)] == [ids[2], ids[3]]
    assert store.history("u", before=ids[0]) == []
    assert store.history("nobody") == []


def test_export_iterates_annotations_with_item_data(store):
    store.add_items(items(3))
    store.save_label("u", "k2", "x", ["x"])
    store.save_skip("u", "k0")
    rows = list(store.iter_annotated_items(status=Status.LABELED))
    assert [(a.item_key, data) for a, data in rows] == [("k2", {"i": 2})]
    assert [a.status for a in store.iter_annotations()] == [Status.LABELED, Status.SKIPPED]


def test_restore_keeps_label_ids_and_next_ids_follow(make_store):
    source = make_store("a.db")
    source.add_items(items(3))
    source.save_label("u", "k0", "x", ["x"])
    source.save_label("u", "k1", "y", ["y"])
    source.save_skip("v", "k2")
    source.save_label("u", "k0", "z", ["z"])
    saved = list(source.iter_annotations())

    target = make_store("b.db")
    target.add_items(items(3))
    ghost = saved[0].__class__(**{**saved[0].__dict__, "item_key": "gone"})
    assert target.restore([ghost, *saved], lambda a: [a.label]) == 3
    assert [(a.item_key, a.label, a.label_id) for a in target.iter_annotations()] == [
        (a.item_key, a.label, a.label_id) for a in saved]
    assert target.stats().per_class == {"y": 1, "z": 1}
    assert target.changes() == []
    target.add_items([Item("k3", {})])
    assert target.save_label("w", "k3", "x", ["x"]).label_id == 3


def test_changes_log_every_save_in_order(store):
    store.add_items(items(2))
    store.save_label("u", "k0", "x", ["x"])
    store.save_skip("u", "k1")
    store.save_label("u", "k0", "y", ["y"])
    log = store.changes()
    assert [(a.item_key, a.label) for _, a in log] == [("k0", "y"), ("k1", None), ("k0", "y")]
    assert store.changes(after=log[1][0]) == log[2:]
    assert store.last_change() == log[-1][0]


def test_meta_round_trip(store):
    assert store.get_meta("x", "d") == "d"
    store.set_meta("x", "1")
    store.set_meta("x", "2")
    assert store.get_meta("x") == "2"


def test_metas_are_written_all_or_none(store):
    store.set_metas({"a": "1", "b": "2"})
    assert (store.get_meta("a"), store.get_meta("b")) == ("1", "2")
    with pytest.raises(sqlite3.Error):  # the second value cannot be stored: neither is
        store.set_metas({"a": "3", "b": object()})
    assert (store.get_meta("a"), store.get_meta("b")) == ("1", "2")


def test_accounts(store):
    token = store.add_user("ann", "annotator", "s3cret-pass")
    assert store.user_for_token(token).name == "ann"
    assert store.authenticate("ann", "s3cret-pass").role == "annotator"
    with pytest.raises(AuthenticationError):
        store.authenticate("ann", "wrong-pass")
    with pytest.raises(AuthenticationError):
        store.user_for_token("not-a-token")
    with pytest.raises(ConflictError):
        store.add_user("ann", "reviewer", "another-pass")
    with pytest.raises(ValidationError, match="role"):
        store.add_user("bob", "boss", "s3cret-pass")
    with pytest.raises(ValidationError, match="8 characters"):
        store.add_user("bob", "annotator", "short")
    assert store.count_users() == 1


def test_no_password_or_token_in_clear(store, tmp_path):
    token = store.add_user("ann", "annotator", "s3cret-pass")
    store.close()
    raw = (tmp_path / "labels.db").read_bytes()
    for path in tmp_path.glob("labels.db*"):
        raw += path.read_bytes()
    assert b"s3cret-pass" not in raw and token.encode() not in raw


def test_a_session_names_its_user_until_it_ends(store):
    store.add_user("ann", "annotator", "ann-password")
    session_id, csrf = store.finish_login((), "ann", lifetime=60)
    user, token = store.get_session(session_id)
    assert (user.name, user.role, token) == ("ann", "annotator", csrf)
    assert store.get_session("forged") is None
    store.end_session(session_id)
    assert store.get_session(session_id) is None


def test_an_expired_session_is_refused(store):
    store.add_user("ann", "annotator", "ann-password")
    session_id, _ = store.finish_login((), "ann", lifetime=60, now=1000.0)
    assert store.get_session(session_id, now=1059.0) is not None
    assert store.get_session(session_id, now=1060.0) is None


def test_a_session_follows_its_account(store):
    store.add_user("ann", "annotator", "ann-password")
    session_id, _ = store.finish_login((), "ann", lifetime=60)
    store.set_role("ann", "viewer")
    assert store.get_session(session_id)[0].role == "viewer"
    with pytest.raises(ValidationError, match="role"):
        store.set_role("ann", "boss")
    store.delete_user("ann")
    assert store.get_session(session_id) is None
    with pytest.raises(NotFoundError):
        store.delete_user("ann")
    with pytest.raises(NotFoundError):
        store.set_role("ann", "viewer")


def test_login_attempts_lock_a_key_for_the_rest_of_the_window(store):
    keys = [("name:x", 3), ("addr:a", 4)]
    for at in (100.0, 110.0, 120.0):
        store.begin_login(keys, window=60, now=at)  # each counts until finished
    # Locked until the first of the 3 attempts is 60 s old; a refusal is not counted.
    with pytest.raises(TooManyAttemptsError) as refused:
        store.begin_login(keys, window=60, now=130.0)
    assert refused.value.retry_after == 30
    assert refused.value.headers == {"Retry-After": "30"}
    store.begin_login(keys, window=60, now=160.0)
    store.begin_login([("addr:a", 4)], window=60, now=161.0)  # 4th within the window
    with pytest.raises(TooManyAttemptsError):
        store.begin_login([("name:y", 3), ("addr:a", 4)], window=60, now=162.0)


def test_a_finished_login_is_no_failure_and_forgets_the_names(store):
    store.add_user("ann", "annotator", "ann-password")
    keys = [("name:x", 2), ("addr:a", 3)]
    store.begin_login(keys, window=60, now=100.0)
    old_session, _ = store.finish_login((), "ann", lifetime=600, now=100.0)
    attempt = store.begin_login(keys, window=60, now=101.0)
    session_id, csrf = store.finish_login(attempt, "ann", lifetime=600, forget=["name:x"],
                                          ending=old_session, now=102.0)
    assert store.get_session(session_id, now=103.0) == (store.list_users()[0], csrf)
    assert store.get_session(old_session, now=103.0) is None
    store.begin_login(keys, window=60, now=104.0)
    store.begin_login(keys, window=60, now=105.0)  # name:x was forgotten: 2 more fit
    with pytest.raises(TooManyAttemptsError):  # addr:a kept its failure: 1 + 2 = 3
        store.begin_login([("addr:a", 3)], window=60, now=106.0)


def test_login_attempts_are_seen_by_every_process(make_store):
    first, other = make_store(), make_store()  # two gunicorn workers on one store
    first.begin_login([("name:x", 1)], window=60, now=100.0)
    with pytest.raises(TooManyAttemptsError):
        other.begin_login([("name:x", 1)], window=60, now=101.0)


def test_an_unknown_name_costs_the_same_password_work(store, monkeypatch):
    store.add_user("ann", "annotator", "ann-password")
    calls = []
    real = hashlib.scrypt

    def counting(*args, **kwargs):
        calls.append(kwargs["n"])
        return real(*args, **kwargs)

    monkeypatch.setattr(accounts.hashlib, "scrypt", counting)
    with pytest.raises(AuthenticationError):
        store.authenticate("ann", "wrong-password")
    with pytest.raises(AuthenticationError):
        store.authenticate("nobody", "wrong-password")
    assert calls == [2**14, 2**14]


def test_concurrent_threads_never_share_an_item(store):
    store.add_items(items(200))
    got: list[list[str]] = []

    def worker(user: str) -> None:
        mine = []
        for _ in range(10):
            for item in store.next_items(user, count=3):
                store.save_label(user, item.key, "x", ["x"])
                mine.append(item.key)
        got.append(mine)

    threads = [threading.Thread(target=worker, args=(f"u{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    flat = [k for mine in got for k in mine]
    assert len(flat) == len(set(flat)) == 180
    assert store.stats().labeled == 180


def _process_worker(path: str, user: str, queue) -> None:
    store = SQLiteStore(path)
    taken = []
    for _ in range(15):
        for item in store.next_items(user, count=2):
            store.save_label(user, item.key, "x", ["x"])
            taken.append(item.key)
    queue.put(taken)


def test_concurrent_processes_never_share_an_item(tmp_path):
    path = str(tmp_path / "shared.db")
    SQLiteStore(path).add_items(items(200))
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_process_worker, args=(path, f"p{i}", queue)) for i in range(4)]
    for p in procs:
        p.start()
    taken = [k for _ in procs for k in queue.get(timeout=60)]
    for p in procs:
        p.join(timeout=60)
    assert len(taken) == len(set(taken)) == 120
    assert SQLiteStore(path).stats().labeled == 120


def test_reserved_label_ids_are_never_reused(store):
    store.add_items(items(2))
    store.reserve_label_ids(41)
    assert store.save_label("u", "k0", "x", ["x"]).label_id == 42
    store.reserve_label_ids(10)  # never lowers the counter
    assert store.save_label("u", "k1", "x", ["x"]).label_id == 43


def test_a_label_renumbered_takes_the_next_id(store):
    store.add_items(items(3))
    store.save_label("u", "k0", "x", ["x"])
    store.save_label("v", "k0", "x", ["x"])
    store.save_skip("u", "k1")
    assert store.renumber_label("u", "k0") == 3
    assert store.get_annotation("u", "k0").label_id == 3
    assert store.get_annotation("v", "k0").label_id == 2  # the other label keeps its id
    assert store.renumber_label("u", "k1") is None  # a skip has no label id
    assert store.save_label("u", "k2", "x", ["x"]).label_id == 4


def test_priorities_can_reach_every_copy_of_a_row(store):
    store.add_items([Item("a1b2c3d4e5f60718", {}), Item("a1b2c3d4e5f60718-1", {}),
                     Item("a1b2c3d4e5f60718-2", {}), Item("a1b2c3d4e5f60719", {}),
                     Item("a1b2c3d4e5f60718a", {})])
    store.set_priorities([("a1b2c3d4e5f60718", 0.7)])
    assert store.get_item("a1b2c3d4e5f60718-1").priority is None  # exact by default
    store.set_priorities([("a1b2c3d4e5f60718", 0.7)], to_duplicates=True)
    assert [store.get_item(k).priority for k in (
        "a1b2c3d4e5f60718", "a1b2c3d4e5f60718-1", "a1b2c3d4e5f60718-2")] == [0.7] * 3
    assert store.get_item("a1b2c3d4e5f60719").priority is None
    assert store.get_item("a1b2c3d4e5f60718a").priority is None
    store.set_priorities([("a1b2c3d4e5f60719", 0.7, 0.3), ("a1b2c3d4e5f60718", 0.7, 0.2)],
                         to_duplicates=True)
    served = store.next_items("u", count=4)
    assert [i.key for i in served[:1]] == ["a1b2c3d4e5f60719"]  # given first
    assert [i.uncertainty for i in served] == [0.3, 0.2, 0.2, 0.2]


def test_set_priorities_counts_items_once_and_entries_that_match_nothing(store):
    """A queries table holds one row per copy of a duplicated row; each row reaches every
    copy: the items are counted once each. Rows of another pool match nothing."""
    store.add_items([Item("a1b2c3d4e5f60718", {}), Item("a1b2c3d4e5f60718-1", {}),
                     Item("a1b2c3d4e5f60719", {})])
    done = store.set_priorities([("a1b2c3d4e5f60718", 0.9), ("a1b2c3d4e5f60718", 0.9),
                                 ("a1b2c3d4e5f60719", 0.5), ("ffffffffffffffff", 0.4)],
                                to_duplicates=True)
    assert (done.items, done.unmatched) == (3, 1)
    done = store.set_priorities([("a1b2c3d4e5f60719", 0.5), ("nope", 0.1)])
    assert (done.items, done.unmatched) == (1, 1)
    assert store.get_item("a1b2c3d4e5f60718").priority is None  # reset: not in this ranking
    # Another pool's queries (nothing matches): the ranking in place stays.
    done = store.set_priorities([("nope", 0.9), ("nada", 0.8)])
    assert (done.items, done.unmatched) == (0, 2)
    assert store.get_item("a1b2c3d4e5f60719").priority == 0.5
    store.set_priorities([])  # an empty ranking: nothing is ranked any more
    assert store.get_item("a1b2c3d4e5f60719").priority is None


def test_an_unknown_item_id_is_echoed_cut(store):
    # A request can name an item by a megabyte of text: the 404 must not send it back twice.
    with pytest.raises(NotFoundError) as caught:
        store.get_item("x" * 1_000_000)
    assert len(caught.value.message) < 200
    assert len(caught.value.details["item_id"]) <= 100


def test_a_store_in_a_directory_that_does_not_exist_is_refused(tmp_path):
    """A mistyped --store would silently start an empty project in a new directory."""
    from assisted_labeling.errors import ConfigError

    with pytest.raises(ConfigError, match="does not exist; create it"):
        SQLiteStore(tmp_path / "typo" / "labels.db")
    assert not (tmp_path / "typo").exists()
