"""The tabular labeling page in real Chromium, against the real CLI server (SPEC F-1.1)."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from contextlib import closing
from pathlib import Path

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

CLASSES = ["cat", "dog", "bird"]


# Four retrainings that barely changed the model: the server warns that labeling more may
# not help (the standalone loop keeps this history in the store).
STALLED = [
    {"n_samples": 100, "contradictions": None, "auc": 0.900, "versionId": "1"},
    {"n_samples": 100, "contradictions": 0.004, "auc": 0.901, "versionId": "2"},
    {"n_samples": 100, "contradictions": 0.003, "auc": 0.902, "versionId": "3"},
    {"n_samples": 100, "contradictions": 0.002, "auc": 0.903, "versionId": "4"},
]


def rows(n: int) -> list[dict]:
    return [{"id": f"r{i:02d}", "text": f"Row number {i}", "n": i} for i in range(n)]


# -- helpers -----------------------------------------------------------------------------
def item_id(page: Page) -> str:
    """The id of the item on screen, once one is shown."""
    page.wait_for_function(
        "() => { const el = document.querySelector('.al-item');"
        " return el && el.dataset.itemId; }")
    return page.locator(".al-item").get_attribute("data-item-id")


def wait_item_change(page: Page, old: str) -> str:
    page.wait_for_function(
        "(old) => { const el = document.querySelector('.al-item');"
        " return el && el.dataset.itemId && el.dataset.itemId !== old; }", arg=old)
    return item_id(page)


def expect_item(page: Page, key: str, mode: str | None = None) -> None:
    expect(page.locator(".al-item")).to_have_attribute("data-item-id", key)
    if mode:
        expect(page.locator(".al-item")).to_have_attribute("data-mode", mode)


def expect_stat(page: Page, key: str, value: int) -> None:
    expect(page.locator(f'.al-figure[data-stat="{key}"] dd')).to_have_text(str(value))


def class_button(page: Page, name: str):
    return page.locator(f'.al-class[data-class="{name}"]')


def sign_in(page: Page, url: str, name: str, password: str) -> None:
    page.goto(url)
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(password)
    page.keyboard.press("Enter")


def run_sql(store: Path, sql: str) -> None:
    """Change the running server's SQLite store behind its back."""
    with closing(sqlite3.connect(store)) as db, db:
        db.execute(sql)


def open_app(page: Page, url: str) -> str:
    page.goto(url)
    return item_id(page)


# -- tests -------------------------------------------------------------------------------
def test_keyboard_labeling_history_skip_reload_and_export(serve, page):
    server = serve(rows(25), "--id-column", "id")
    current = open_app(page, server.url)
    expect(page.locator(".al-classes kbd")).to_have_text(["1", "2", "3"])

    labels: dict[str, str] = {}
    order: list[str] = []
    for i in range(20):
        assert current not in labels, "an item came back after it was labeled"
        if i == 5:
            # The comment box swallows shortcuts; Escape leaves it.
            page.keyboard.press("c")
            expect(page.locator("#al-comment")).to_be_focused()
            page.keyboard.type("needs care 1s")
            expect(page.locator("#al-comment")).to_have_value("needs care 1s")
            expect_item(page, current)
            page.keyboard.press("Escape")
            expect(page.locator("#al-comment")).not_to_be_focused()
        page.keyboard.press(str(i % 3 + 1))
        labels[current] = CLASSES[i % 3]
        order.append(current)
        current = wait_item_change(page, current)
    commented = order[5]
    expect_stat(page, "mine-labeled", 20)
    expect_stat(page, "remaining", 5)
    head = current

    # Back three times: the third most recent item, shown with its label.
    for k in (1, 2, 3):
        page.keyboard.press("ArrowLeft")
        expect_item(page, order[-k], "past")
    changed = order[-3]
    old = labels[changed]
    expect(class_button(page, old)).to_have_attribute("aria-pressed", "true")
    expect(page.locator(".al-chip-label")).to_contain_text(old)
    new = next(c for c in CLASSES if c != old)
    page.keyboard.press(str(CLASSES.index(new) + 1))
    labels[changed] = new
    expect_item(page, order[-2], "past")  # editing moves forward in the history
    page.keyboard.press("ArrowLeft")
    expect_item(page, changed, "past")
    expect(class_button(page, new)).to_have_attribute("aria-pressed", "true")
    for key in (order[-2], order[-1], head):
        page.keyboard.press("ArrowRight")
        expect_item(page, key)
    expect(page.locator(".al-item")).to_have_attribute("data-mode", "new")
    expect_stat(page, "mine-labeled", 20)

    # Skip the current item.
    page.keyboard.press("s")
    skipped = head
    after_skip = wait_item_change(page, skipped)
    assert after_skip not in labels
    expect_stat(page, "mine-skipped", 1)
    expect_stat(page, "mine-labeled", 20)

    # Reload: the same item is waiting, progress is right, the history is there.
    page.reload()
    assert item_id(page) == after_skip
    expect_stat(page, "mine-labeled", 20)
    expect_stat(page, "mine-skipped", 1)
    expect_stat(page, "remaining", 5)
    expect_stat(page, "total", 25)
    page.keyboard.press("ArrowLeft")
    expect_item(page, skipped, "past")
    expect(page.locator(".al-position")).to_contain_text("Skipped")
    page.keyboard.press("ArrowLeft")
    expect_item(page, order[-1], "past")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    expect_item(page, after_skip, "new")

    # The exports hold exactly what was done.
    exported = {row["id"]: row["label"] for row in server.export("labels")}
    assert exported == labels
    metadata = server.export("metadata")
    assert len(metadata) == 21
    assert [r["data_id"] for r in metadata if r["status"] == "SKIPPED"] == [skipped]
    assert {r["data_id"]: r["comment"] for r in metadata}[commented] == "needs care 1s"
    assert {r["data_id"]: r["label"] for r in metadata}[changed] == new

    # And labeling goes on.
    page.keyboard.press("2")
    wait_item_change(page, after_skip)
    expect_stat(page, "mine-labeled", 21)
    expect_stat(page, "remaining", 4)


def test_multi_label_needs_an_explicit_save(serve, page):
    server = serve(rows(4), "--id-column", "id", "--multi-label")
    first = open_app(page, server.url)
    page.keyboard.press("1")
    page.keyboard.press("3")
    page.keyboard.press("3")
    page.keyboard.press("3")
    expect(class_button(page, "cat")).to_have_attribute("aria-pressed", "true")
    expect(class_button(page, "bird")).to_have_attribute("aria-pressed", "true")
    expect(class_button(page, "dog")).to_have_attribute("aria-pressed", "false")
    expect_item(page, first)  # toggling does not save
    expect_stat(page, "mine-labeled", 0)
    page.keyboard.press("Enter")
    second = wait_item_change(page, first)

    page.keyboard.press("Enter")  # nothing selected: a hint, no save
    expect(page.locator(".al-hint")).to_contain_text("Select at least one class")
    expect_item(page, second)
    class_button(page, "dog").click()
    expect(class_button(page, "dog")).to_have_attribute("aria-pressed", "true")
    page.get_by_role("button", name="Save").click()
    third = wait_item_change(page, second)
    expect_stat(page, "mine-labeled", 2)

    # Back to the second item: add a class, save again.
    page.keyboard.press("ArrowLeft")
    expect_item(page, second, "past")
    expect(class_button(page, "dog")).to_have_attribute("aria-pressed", "true")
    page.keyboard.press("1")
    page.keyboard.press("Enter")
    expect_item(page, third, "new")
    expect_stat(page, "mine-labeled", 2)

    labels = {row["id"]: json.loads(row["label"]) for row in server.export("labels")}
    assert labels == {first: ["cat", "bird"], second: ["cat", "dog"]}


def test_data_is_shown_as_text_never_as_markup(serve, page, tmp_path):
    evil = "<img src=x onerror=alert(1)>"
    instructions = tmp_path / "instructions.md"
    instructions.write_text(
        "# Rules\nBe **careful** with <img src=y onerror=alert(2)> tags.\n\n"
        "- [bad link](javascript:alert(3))\n- [good link](https://example.com/)\n",
        encoding="utf-8")
    data = [{"id": "x1", "text": evil, "note": "<b>bold?</b>"}]
    server = serve(data, "--id-column", "id", "--instructions", str(instructions),
                   "--title", "<i>Title</i>", categories="cat,<b>dog</b>")
    open_app(page, server.url)
    item = page.locator(".al-item-body")
    expect(item.locator("th")).to_have_text(["id", "text", "note"])
    expect(item.locator("td")).to_have_text(["x1", evil, "<b>bold?</b>"])
    expect(page.locator("h1.al-title")).to_have_text("<i>Title</i>")
    expect(class_button(page, "<b>dog</b>")).to_contain_text("<b>dog</b>")
    markdown = page.locator(".al-markdown")
    expect(markdown.locator("strong")).to_have_text("careful")
    expect(markdown).to_contain_text("<img src=y onerror=alert(2)> tags.")
    expect(markdown.locator("a")).to_have_count(1)
    expect(markdown.locator("a")).to_have_attribute("href", "https://example.com/")
    expect(markdown).to_contain_text("bad link")
    assert page.locator("#labeling-app img, #labeling-app b, #labeling-app i").count() == 0

    # Keyboard help opens and closes.
    page.keyboard.press("?")
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_hidden()

    page.keyboard.press("2")
    expect(page.locator(".al-item")).to_have_attribute("data-mode", "done")
    assert server.export("labels")[0]["label"] == "<b>dog</b>"


def test_pre_annotation_context_uncertainty_and_warnings(serve, page, tmp_path):
    from assisted_labeling.retrain import METRICS
    from assisted_labeling.store.sqlite import SQLiteStore

    data = [
        {"id": "a", "text": "first", "source": "web", "guess": "dog"},
        {"id": "b", "text": "second", "source": "mail", "guess": "cat"},
        {"id": "c", "text": "third", "source": "shop", "guess": "zebra"},
    ]
    # The model scored every item 0.875; its history says labeling more may not help.
    queries = tmp_path / "queries.csv"
    queries.write_text("id,text,source,guess,uncertainty,model_uncertainty,session\n"
                       "a,first,web,dog,0.9,0.875,1\n"
                       "b,second,mail,cat,0.8,0.875,1\n"
                       "c,third,shop,zebra,0.7,0.875,1\n")
    server = serve(data, "--id-column", "id", "--display-columns", "text",
                   "--context-columns", "source", "--existing-labels-column", "guess",
                   "--queries", str(queries))
    SQLiteStore(server.store).set_meta(METRICS, json.dumps(STALLED))
    by_id = {row["id"]: row for row in data}

    shown = open_app(page, server.url)
    expect(page.locator(".al-warnings")).to_contain_text("Labeling more may not help")
    expect(page.locator(".al-badge-uncertainty")).to_contain_text("0.88")
    expect(page.locator(".al-item-body th")).to_have_text(["text"])
    expect(page.locator(".al-keys-card")).to_contain_text("Show or hide the context")
    context = page.locator("details.al-context")
    expect(context).not_to_have_attribute("open", "")
    page.keyboard.press("x")
    expect(context).to_have_attribute("open", "")
    expect(context.locator("td")).to_have_text(by_id[shown]["source"])

    labels = {}
    for _ in range(3):
        guess = by_id[shown]["guess"]
        if guess in CLASSES:
            expect(page.locator(".al-badge-suggestion")).to_contain_text(guess)
            expect(class_button(page, guess)).to_have_class("al-class al-suggested")
            if guess == "dog":
                page.keyboard.press("Enter")  # accept
                labels[shown] = "dog"
            else:
                page.keyboard.press("3")  # correct it
                labels[shown] = "bird"
        else:
            expect(page.locator(".al-badge-unknown")).to_contain_text("zebra")
            page.keyboard.press("Enter")  # nothing to accept
            expect(page.locator(".al-hint")).to_contain_text("Choose a class")
            expect_item(page, shown)
            page.keyboard.press("1")
            labels[shown] = "cat"
        if len(labels) < 3:
            shown = wait_item_change(page, shown)
    expect(page.locator(".al-item")).to_have_attribute("data-mode", "done")
    assert {row["id"]: row["label"] for row in server.export("labels")} == labels


def test_enter_on_a_skipped_past_item_keeps_the_skip(serve, page):
    """Enter keeps what a past item holds, a skip as a label: a labeler paging forward
    through the history with Enter must not turn skips into the suggested class."""
    data = [{"id": "a", "text": "first", "guess": "dog"},
            {"id": "b", "text": "second", "guess": "cat"}]
    server = serve(data, "--id-column", "id", "--existing-labels-column", "guess")
    first = open_app(page, server.url)
    page.keyboard.press("s")
    second = wait_item_change(page, first)
    page.keyboard.press("ArrowLeft")
    expect_item(page, first, "past")
    submit = page.locator("button[aria-keyshortcuts=Enter]")
    expect(submit).to_contain_text("Keep skip")
    expect(submit).to_be_enabled()
    page.keyboard.press("Enter")
    expect_item(page, second, "new")
    assert [r["status"] for r in server.export("metadata")] == ["SKIPPED"]
    # A comment added to the skip is saved with Ctrl+Enter, still as a skip.
    page.keyboard.press("ArrowLeft")
    expect_item(page, first, "past")
    page.keyboard.press("c")
    page.keyboard.type("too blurry")
    page.keyboard.press("Control+Enter")
    expect_item(page, second, "new")
    expect(page.locator(".al-save-state")).to_have_text("All saved")
    # Choosing a class on it still labels it.
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("1")
    expect_item(page, second, "new")
    expect(page.locator(".al-save-state")).to_have_text("All saved")
    metadata = {row["data_id"]: row for row in server.export("metadata")}
    assert (metadata[first]["status"], metadata[first]["label"]) == ("LABELED", "cat")
    assert metadata[first]["comment"] == "too blurry"


def test_another_users_sign_in_in_another_tab_does_not_take_this_page_over(serve, page):
    """The browser's cookie is shared by its tabs: once bob signs in in another tab,
    alice's page must not label as bob, nor drop her choice: it asks her to sign in
    again, keeping the screen, as when a session ends."""
    password = "a long passphrase"
    server = serve(rows(4), "--id-column", "id",
                   users=[("alice", "annotator", password), ("bob", "annotator", password)])
    page.clock.install()  # the page re-reads its state every minute: when the test says
    sign_in(page, server.url, "alice", password)
    first = item_id(page)
    other = page.context.new_page()  # same browser: same cookies

    def bob_signs_in_in_the_other_tab() -> None:
        other.goto(server.url)  # signed in as alice: the browser's session is hers
        other.get_by_role("button", name="Sign out").click()
        sign_in(other, server.url, "bob", password)
        expect(other.locator(".al-user-name")).to_contain_text("bob")

    try:
        bob_signs_in_in_the_other_tab()

        page.keyboard.press("2")
        dialog = page.locator("dialog.al-signin-dialog")
        expect(dialog).to_contain_text("signed in or out in another tab or window")
        expect(page.locator(".al-error")).not_to_contain_text("ask a project manager")
        expect_item(page, first)
        expect(class_button(page, "dog")).to_have_attribute("aria-pressed", "true")
        dialog.get_by_label("User name").fill("alice")
        dialog.get_by_label("Password").fill(password)
        page.keyboard.press("Enter")
        expect(dialog).to_have_count(0)
        page.keyboard.press("Enter")
        second = wait_item_change(page, first)

        # bob signs in again elsewhere; alice's page finds out at its next read of the
        # project state, and still does not turn into bob's.
        bob_signs_in_in_the_other_tab()
        page.keyboard.press("3")  # chosen, the save fails: the page asks to sign in
        expect(dialog).to_be_visible()
        page.keyboard.press("Escape")
        expect(dialog).to_have_count(0)
        page.clock.run_for(61_000)
        expect(dialog).to_contain_text("now signed in as bob")
        expect(dialog).to_contain_text("go on as alice")
        expect(page.locator(".al-user-name")).to_contain_text("alice")
        expect_item(page, second)
    finally:
        other.close()
    metadata = server.export("metadata")
    assert [(r["data_id"], r["annotator"], r["label"]) for r in metadata] == [
        (first, "alice", "dog")]


def test_in_dss_a_page_whose_user_changed_starts_afresh_as_them(serve, page):
    """DSS identifies users itself (no sign-in dialog there): when the project state
    names another user, the page starts again as that user; it must not freeze."""
    server = serve(rows(3), "--id-column", "id")
    page.add_init_script("window.dataiku = { getWebAppBackendUrl: (path) => "
                         "new URL(path.replace(/^\\/+/, ''), document.baseURI).href };")
    page.clock.install()
    first = open_app(page, server.url)
    expect(page.locator(".al-user-name")).to_contain_text("local")

    def as_bob(route):
        response = route.fetch()
        body = response.json()
        body["user"] = {**body["user"], "name": "bob"}
        route.fulfill(response=response, json=body)

    page.route("**/api/config*", as_bob)
    page.clock.run_for(61_000)
    expect(page.locator(".al-user-name")).to_contain_text("bob")
    expect(page.locator("dialog.al-signin-dialog")).to_have_count(0)
    expect_item(page, first)


def test_the_model_uncertainty_is_shown_not_the_queue_order(serve, page, tmp_path):
    # A cold start asks r01 first by giving it a high ordering key; the model is in fact
    # quite sure of it (0.099). r02 was drawn at random: no doubt to show.
    queries = tmp_path / "queries.csv"
    queries.write_text("id,text,n,uncertainty,model_uncertainty,session\n"
                       "r01,Row number 1,1,0.924,0.099,1\n"
                       "r02,Row number 2,2,0.5,,1\n")
    server = serve(rows(3), "--id-column", "id", "--queries", str(queries))
    badge = page.locator(".al-badge-uncertainty")
    assert open_app(page, server.url) == "r01"
    expect(badge).to_have_text("Uncertainty 0.10")
    page.keyboard.press("1")
    expect_item(page, "r02")
    expect(badge).to_have_count(0)


def test_sign_in_then_label_then_sign_out(serve, page):
    server = serve(rows(3), "--id-column", "id",
                   users=[("alice", "annotator", "correct horse battery")])
    page.goto(server.url)
    form = page.locator("form.al-signin")
    expect(form).to_be_visible()
    page.get_by_label("User name").fill("alice")
    page.get_by_label("Password").fill("wrong password")
    page.keyboard.press("Enter")
    expect(form.get_by_role("alert")).to_be_visible()
    expect(form.get_by_role("alert")).not_to_be_empty()
    page.get_by_label("Password").fill("correct horse battery")
    page.keyboard.press("Enter")
    first = item_id(page)
    expect(page.locator(".al-user-name")).to_contain_text("alice")
    page.keyboard.press("2")  # a POST: needs the CSRF token of the cookie session
    second = wait_item_change(page, first)
    expect_stat(page, "mine-labeled", 1)

    # The session ends mid-work: sign in again in a dialog, the choice is kept.
    page.context.clear_cookies()
    page.keyboard.press("3")
    dialog = page.locator("dialog.al-signin-dialog")
    expect(dialog).to_be_visible()
    expect_item(page, second)
    expect(class_button(page, "bird")).to_have_attribute("aria-pressed", "true")
    dialog.get_by_label("User name").fill("alice")
    dialog.get_by_label("Password").fill("correct horse battery")
    page.keyboard.press("Enter")
    expect(dialog).to_have_count(0)
    expect(page.locator(".al-error")).to_be_hidden()  # "sign in first" is past
    expect(page.locator(".al-hint")).to_contain_text("press Enter to save")
    page.keyboard.press("Enter")
    wait_item_change(page, second)
    expect_stat(page, "mine-labeled", 2)
    metadata = {row["data_id"]: row for row in server.export("metadata")}
    assert {row["annotator"] for row in metadata.values()} == {"alice"}
    assert metadata[second]["label"] == "bird"

    page.get_by_role("button", name="Sign out").click()
    expect(form).to_be_visible()
    page.reload()
    expect(page.locator("form.al-signin")).to_be_visible()


def test_a_failed_save_keeps_the_item_and_the_choice(serve, page):
    server = serve(rows(5), "--id-column", "id")
    page.clock.install()
    first = open_app(page, server.url)

    # The store refuses to write (as on a full disk): the server answers 500.
    run_sql(server.store, "CREATE TRIGGER refuse BEFORE INSERT ON annotations"
            " BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END")
    page.clock.run_for(3_000)  # 3 s on the item
    page.keyboard.press("2")
    error = page.locator(".al-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("Internal error")
    expect(error).to_contain_text("dog")
    expect_item(page, first, "new")
    expect(class_button(page, "dog")).to_have_attribute("aria-pressed", "true")
    expect(page.locator(".al-save-state")).to_have_text("Not saved")
    expect_stat(page, "mine-labeled", 0)

    run_sql(server.store, "DROP TRIGGER refuse")
    page.keyboard.press("Enter")  # save the kept choice again
    second = wait_item_change(page, first)
    expect(error).to_be_hidden()
    expect_stat(page, "mine-labeled", 1)
    with closing(sqlite3.connect(server.store)) as db:
        (spent,), = db.execute("SELECT duration_ms FROM annotations").fetchall()
    assert spent >= 3_000  # the refused save's time is sent again with the one stored

    # The server is gone: the skip is not lost either, and is made once it is back.
    server.stop()
    page.keyboard.press("s")
    expect(error).to_contain_text("Cannot reach the server")
    expect_item(page, second, "new")
    expect_stat(page, "mine-skipped", 0)
    # The error speaks of "this item": on another one it would name the wrong item.
    page.keyboard.press("ArrowLeft")
    expect_item(page, first, "past")
    expect(error).to_be_hidden()
    page.keyboard.press("ArrowRight")  # back: the item says its skip is not saved
    expect_item(page, second, "new")
    expect(page.locator(".al-notices")).to_contain_text("Your skip of this item is not "
                                                        "saved yet")
    server.launch()
    page.keyboard.press("s")
    wait_item_change(page, second)
    expect_stat(page, "mine-skipped", 1)

    metadata = {row["data_id"]: row for row in server.export("metadata")}
    assert metadata[first]["label"] == "dog"
    assert metadata[second]["status"] == "SKIPPED"


def test_a_failed_skip_after_a_failed_label_leaves_no_class_chosen(serve, page):
    """The labeler chose a class, then skip, and neither reached the server: the skip
    is the choice on screen, so Enter must not save the class chosen before it."""
    server = serve(rows(4), "--id-column", "id")
    first = open_app(page, server.url)
    server.stop()
    error = page.locator(".al-error")
    page.keyboard.press("2")
    expect(error).to_contain_text("the label “dog”")
    page.keyboard.press("s")
    expect(error).to_contain_text("the skip of this item")
    expect(class_button(page, "dog")).to_have_attribute("aria-pressed", "false")
    server.launch()
    page.keyboard.press("Enter")
    expect(page.locator(".al-hint")).to_contain_text("Choose a class")
    expect_item(page, first, "new")
    page.keyboard.press("s")
    wait_item_change(page, first)
    assert [row["status"] for row in server.export("metadata")] == ["SKIPPED"]


def test_a_failed_skip_of_a_labeled_past_item_leaves_its_label_to_keep(serve, page):
    """On a past item labeled cat (the model suggests dog), a skip fails: its label shows
    again, and Enter keeps it; it neither takes the suggestion nor another label."""
    data = [{"id": "a", "text": "first", "guess": "dog"},
            {"id": "b", "text": "second", "guess": "cat"}]
    server = serve(data, "--id-column", "id", "--existing-labels-column", "guess")
    first = open_app(page, server.url)
    page.keyboard.press("1")  # cat
    second = wait_item_change(page, first)
    page.keyboard.press("ArrowLeft")
    expect_item(page, first, "past")
    server.stop()
    page.keyboard.press("s")
    expect(page.locator(".al-error")).to_contain_text("the skip of this item")
    expect(class_button(page, "cat")).to_have_attribute("aria-pressed", "true")
    server.launch()
    page.keyboard.press("Enter")
    expect_item(page, second, "new")
    assert [(r["status"], r["label"]) for r in server.export("metadata")] == [
        ("LABELED", "cat")]


def test_a_warning_appearing_on_the_server_shows_without_a_reload(serve, page):
    """The model is retrained while the page stays open: the page re-reads the project
    state every minute, and draws the warning without moving the labeler's focus."""
    from assisted_labeling.retrain import METRICS
    from assisted_labeling.store.sqlite import SQLiteStore

    server = serve(rows(6), "--id-column", "id")
    page.clock.install()  # the minute between two reads passes at once
    first = open_app(page, server.url)
    warnings = page.locator(".al-warnings")
    expect(warnings).to_be_hidden()
    page.keyboard.press("c")  # the labeler is writing a comment
    page.keyboard.type("half a")

    SQLiteStore(server.store).set_meta(METRICS, json.dumps(STALLED))
    page.clock.run_for(30_000)
    expect(page.locator(".al-item")).to_have_attribute("data-item-id", first)
    page.clock.run_for(31_000)
    expect(warnings).to_contain_text("Labeling more may not help")
    comment = page.locator("#al-comment")
    expect(comment).to_be_focused()
    page.keyboard.type(" thought")
    expect(comment).to_have_value("half a thought")
    page.keyboard.press("Escape")
    page.keyboard.press("2")
    wait_item_change(page, first)
    expect(warnings).to_contain_text("Labeling more may not help")
    assert server.export("metadata")[0]["comment"] == "half a thought"



def test_the_warnings_can_be_hidden_until_they_change(serve, page):
    from assisted_labeling.store.sqlite import SQLiteStore

    server = serve(rows(4), "--id-column", "id")
    store = SQLiteStore(server.store)
    store.set_meta("metrics", json.dumps(STALLED))
    page.clock.install()
    open_app(page, server.url)
    warnings = page.locator(".al-warnings")
    expect(warnings).to_contain_text("Labeling more may not help")
    page.get_by_role("button", name="Hide these warnings").click()
    expect(warnings).to_be_hidden()
    # Another retraining says the same with its own figures: it stays hidden.
    later = [*STALLED, {"n_samples": 100, "contradictions": 0.001, "auc": 0.904,
                        "versionId": "5"}]
    store.set_meta("metrics", json.dumps(later))
    page.clock.run_for(61_000)
    expect(warnings).to_contain_text("0.904")
    expect(warnings).to_be_hidden()
    # Another warning shows again.
    chance = [{**entry, "auc": 0.5} for entry in later]
    store.set_meta("metrics", json.dumps(chance))
    page.clock.run_for(61_000)
    expect(warnings).to_contain_text("learned next to nothing")
    expect(warnings).to_be_visible()


def test_a_long_warning_wraps_inside_the_page(serve, page):
    """A class name of 300 letters in a warning (labels of a class since removed)."""
    server = serve(rows(4), "--id-column", "id")
    long_name = "Z" * 300

    def with_long_warning(route):
        response = route.fetch()
        body = response.json()
        body["warnings"] = [f"Some labels hold classes that are no longer categories: "
                            f"{long_name}"]
        route.fulfill(response=response, json=body)

    page.set_viewport_size({"width": 800, "height": 700})
    page.route("**/api/config*", with_long_warning)
    open_app(page, server.url)
    expect(page.locator(".al-warnings")).to_contain_text(long_name)
    assert page.evaluate("document.documentElement.scrollWidth") <= 800


def test_a_mouse_click_leaves_enter_to_the_next_item(serve, page):
    """After clicking Skip, Enter on the next item (nothing chosen, no suggestion) asks
    for a class: it does not press Skip again."""
    server = serve(rows(5), "--id-column", "id")
    first = open_app(page, server.url)
    page.get_by_role("button", name="Skip").click()
    second = wait_item_change(page, first)
    page.keyboard.press("Enter")
    expect(page.locator(".al-hint")).to_contain_text("Choose a class")
    expect_item(page, second, "new")
    expect_stat(page, "mine-skipped", 1)
    page.keyboard.press("2")
    wait_item_change(page, second)
    # Back changes no label: both clicks of a double-click count.
    page.get_by_role("button", name="Back").dblclick()
    expect_item(page, first, "past")


def test_double_clicks_and_held_keys_label_one_item(serve, page):
    server = serve(rows(6), "--id-column", "id")
    first = open_app(page, server.url)
    class_button(page, "dog").dblclick()
    second = wait_item_change(page, first)
    page.keyboard.down("3")
    page.keyboard.down("3")  # the key held down: auto-repeat
    page.keyboard.down("3")
    page.keyboard.up("3")
    third = wait_item_change(page, second)
    page.keyboard.press("1")
    wait_item_change(page, third)
    expect_stat(page, "mine-labeled", 3)
    labels = {row["id"]: row["label"] for row in server.export("labels")}
    assert labels == {first: "dog", second: "bird", third: "cat"}


def test_an_unsaved_comment_on_a_past_item_is_kept_when_leaving_it(serve, page):
    server = serve(rows(5), "--id-column", "id")
    first = open_app(page, server.url)
    page.keyboard.press("1")
    second = wait_item_change(page, first)
    page.keyboard.press("ArrowLeft")
    expect_item(page, first, "past")
    page.keyboard.press("c")
    page.keyboard.type("not sure")
    page.keyboard.press("Escape")
    page.keyboard.press("ArrowRight")
    expect_item(page, second, "new")
    expect(page.locator(".al-hint")).to_contain_text("not saved")
    page.keyboard.press("ArrowLeft")
    expect_item(page, first, "past")
    expect(page.locator("#al-comment")).to_have_value("not sure")
    page.keyboard.press("Enter")
    expect_item(page, second, "new")
    expect(page.locator(".al-save-state")).to_have_attribute("data-state", "saved")
    assert server.export("metadata")[0]["comment"] == "not sure"


def test_a_viewer_is_told_there_is_nothing_to_label(serve, page):
    server = serve(rows(3), "--id-column", "id", users=[("vic", "viewer", "a long passphrase")])
    sign_in(page, server.url, "vic", "a long passphrase")
    expect(page.get_by_role("heading")).to_have_text("Nothing to label with this account")
    expect(page.locator(".al-classes")).to_have_count(0)
    page.get_by_role("button", name="Sign out").click()
    expect(page.locator("form.al-signin")).to_be_visible()


def test_the_done_screen_shows_no_choice_of_the_last_item(serve, page):
    server = serve(rows(1), "--id-column", "id")
    first = open_app(page, server.url)
    page.keyboard.press("3")
    expect(page.locator(".al-item")).to_have_attribute("data-mode", "done")
    page.keyboard.press("ArrowLeft")
    expect_item(page, first, "past")
    expect(class_button(page, "bird")).to_have_attribute("aria-pressed", "true")
    page.keyboard.press("ArrowRight")
    expect(page.locator(".al-item")).to_have_attribute("data-mode", "done")
    for name in CLASSES:
        expect(class_button(page, name)).to_have_attribute("aria-pressed", "false")
    expect(page.locator("#al-comment")).to_be_disabled()


def test_a_save_refused_by_role_does_not_advise_saving_again(serve, page):
    server = serve(rows(3), "--id-column", "id", users=[("ann", "annotator", "a long passphrase")])
    sign_in(page, server.url, "ann", "a long passphrase")
    first = item_id(page)
    server.cli("users", "set-role", "ann", "--role", "viewer", "--store", str(server.store))
    page.keyboard.press("1")
    error = page.locator(".al-error")
    expect(error).to_contain_text("ask a project manager")
    expect(error).not_to_contain_text("press Enter to save it again")
    expect_item(page, first)


def test_multi_label_changes_left_on_a_past_item_are_kept(serve, page):
    server = serve(rows(4), "--id-column", "id", "--multi-label")
    first = open_app(page, server.url)
    page.keyboard.press("1")
    page.keyboard.press("Enter")
    second = wait_item_change(page, first)
    page.keyboard.press("ArrowLeft")
    expect_item(page, first, "past")
    page.keyboard.press("3")  # cat + bird, not saved
    page.keyboard.press("ArrowRight")
    expect_item(page, second, "new")
    page.keyboard.press("ArrowLeft")
    expect(class_button(page, "bird")).to_have_attribute("aria-pressed", "true")
    expect(class_button(page, "cat")).to_have_attribute("aria-pressed", "true")
    page.keyboard.press("3")  # back to what was saved: nothing left to keep
    page.keyboard.press("ArrowRight")
    expect_item(page, second, "new")
    page.keyboard.press("ArrowLeft")
    expect(class_button(page, "bird")).to_have_attribute("aria-pressed", "false")
    labels = {row["id"]: json.loads(row["label"]) for row in server.export("labels")}
    assert labels == {first: ["cat"]}


def test_the_done_screen_says_what_is_left(serve, page):
    server = serve(rows(2), "--id-column", "id")
    first = open_app(page, server.url)
    keys = page.locator(".al-keys-card")
    expect(keys).not_to_contain_text("context")  # no context columns, no instructions
    expect(keys).not_to_contain_text("instructions")
    page.keyboard.press("s")
    second = wait_item_change(page, first)
    page.keyboard.press("1")
    done = page.locator(".al-done")
    expect(done).to_contain_text("1 item is not complete yet")
    expect(done).to_contain_text("You skipped 1 item: skipped items stay to be labeled")

    # Label the skipped item from the history: everything is labeled now.
    page.keyboard.press("ArrowLeft")
    expect_item(page, second, "past")
    page.keyboard.press("ArrowLeft")
    expect_item(page, first, "past")
    page.keyboard.press("2")
    expect_item(page, second, "past")
    page.keyboard.press("ArrowRight")
    expect(done).to_contain_text("Everything is labeled")
    expect(done).to_contain_text("All 2 items are complete")
    expect(done).not_to_contain_text("for you right now")
    expect(done).not_to_contain_text("reserved by other labelers")


def test_check_again_says_what_is_left_from_fresh_figures(serve, page, browser):
    """The done screen of a labeler whose items another holds: once the other has labeled
    them, "Check again" must not repeat the figures of the last save (work left)."""
    password = "a long passphrase"
    server = serve(rows(3), "--id-column", "id",
                   users=[("ann", "annotator", password), ("bob", "annotator", password)])
    other = browser.new_context(viewport={"width": 1280, "height": 900})
    other.set_default_timeout(10_000)
    try:
        sign_in(page, server.url, "ann", password)
        current = item_id(page)
        page.wait_for_load_state("networkidle")  # ann holds every item now
        bob = other.new_page()
        sign_in(bob, server.url, "bob", password)
        done = bob.locator(".al-done")
        expect(done).to_contain_text("3 items are not complete yet")
        for i in range(3):
            page.keyboard.press("1")
            if i < 2:
                current = wait_item_change(page, current)
        expect(page.locator(".al-done")).to_contain_text("Everything is labeled")
        bob.get_by_role("button", name="Check again").click()
        expect(done).to_contain_text("Everything is labeled")
        expect(done).to_contain_text("All 3 items are complete")
    finally:
        other.close()


def test_figures_counted_before_a_save_never_replace_its_answers(serve, page):
    """The done screen asks for fresh figures while the last save is on its way: counted
    before the save, they must not replace the save's own when they arrive after it."""
    server = serve(rows(1), "--id-column", "id")
    open_app(page, server.url)
    page.wait_for_load_state("networkidle")
    held: dict = {}
    page.route("**/api/annotations", lambda route: held.setdefault("save", route))
    page.route("**/api/stats",  # counted now, while the save waits: stale
               lambda route: held.setdefault("stats", (route, route.fetch())))
    page.keyboard.press("1")
    deadline = time.monotonic() + 10
    while len(held) < 2 and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    assert set(held) == {"save", "stats"}, held
    held["save"].continue_()
    expect(page.locator(".al-save-state")).to_have_text("All saved")
    route, stale = held["stats"]
    assert stale.json()["remaining"] == 1
    route.fulfill(response=stale)
    page.wait_for_timeout(300)
    expect(page.locator(".al-done")).to_contain_text("Everything is labeled")


def test_instruction_links_may_hold_parentheses(serve, page, tmp_path):
    instructions = tmp_path / "instructions.md"
    instructions.write_text(
        "See [w](https://en.wikipedia.org/wiki/Foo_(bar)) and (also [x](https://example.com/x)).\n"
        "\n[bad](javascript:alert(1))\n", encoding="utf-8")
    server = serve(rows(2), "--id-column", "id", "--instructions", str(instructions))
    open_app(page, server.url)
    markdown = page.locator(".al-markdown")
    expect(markdown.locator("a")).to_have_text(["w", "x"])
    assert [markdown.locator("a").nth(i).get_attribute("href") for i in range(2)] == [
        "https://en.wikipedia.org/wiki/Foo_(bar)", "https://example.com/x"]
    expect(markdown.locator("p")).to_have_text(["See w and (also x).", "bad"])
    expect(page.locator(".al-keys-card")).to_contain_text("Show or hide the instructions")
    expect(page.locator(".al-keys-card")).not_to_contain_text("context")


def test_ctrl_enter_leaves_the_comment_box_when_a_key_is_asked_for(serve, page):
    server = serve(rows(3), "--id-column", "id")
    first = open_app(page, server.url)
    comment = page.locator("#al-comment")
    page.keyboard.press("c")
    page.keyboard.type("blurry")
    page.keyboard.press("Control+Enter")  # no class chosen yet
    expect(page.locator(".al-hint")).to_contain_text("Choose a class")
    expect(comment).not_to_be_focused()
    page.keyboard.press("2")  # as the hint says
    second = wait_item_change(page, first)

    # Ctrl+Enter saves a past item; the next item is not typed into either.
    page.keyboard.press("ArrowLeft")
    expect_item(page, first, "past")
    page.keyboard.press("c")
    page.keyboard.type(", very")
    page.keyboard.press("Control+Enter")
    expect_item(page, second, "new")
    expect(comment).not_to_be_focused()
    expect(comment).to_have_value("")
    page.keyboard.press("3")
    wait_item_change(page, second)
    metadata = {row["data_id"]: row for row in server.export("metadata")}
    assert (metadata[first]["label"], metadata[first]["comment"]) == ("dog", "blurry, very")
    assert (metadata[second]["label"], metadata[second]["comment"]) == ("bird", "")


def hint_gone_with_the_item(page: Page, old: str) -> None:
    """Once another item than ``old`` is on screen, the hint about ``old`` is gone at
    once, not when its few seconds are up."""
    wait_item_change(page, old)
    assert page.locator(".al-hint").is_hidden(), page.locator(".al-hint").text_content()


def test_a_hint_about_the_item_on_screen_goes_with_it(serve, page):
    """A user's walkthrough: "Nothing in your history yet" stayed above the history after
    a skip, and "Choose a class" above the next item after choosing one."""
    server = serve(rows(4), "--id-column", "id", categories="good,bad")
    first = open_app(page, server.url)
    hint = page.locator(".al-hint")
    page.keyboard.press("ArrowLeft")
    expect(hint).to_have_text("Nothing in your history yet")
    page.keyboard.press("s")
    hint_gone_with_the_item(page, first)
    second = item_id(page)
    page.keyboard.press("ArrowLeft")
    expect_item(page, first, "past")
    expect(page.locator(".al-position")).to_contain_text("Skipped")
    expect(hint).to_be_hidden()

    page.keyboard.press("ArrowRight")
    expect_item(page, second, "new")
    page.keyboard.press("Enter")  # no suggestion to accept
    expect(hint).to_have_text("Choose a class: press 1–2")
    page.keyboard.press("1")
    hint_gone_with_the_item(page, second)
    assert {r["id"]: r["label"] for r in server.export("labels")} == {second: "good"}


def item_head_in_view(page: Page) -> bool:
    """The item's header is on screen, below the page's sticky header."""
    return page.evaluate(
        "() => { const head = document.querySelector('.al-item-head').getBoundingClientRect();"
        " const top = document.querySelector('.al-top').getBoundingClientRect().bottom;"
        " return head.top >= top && head.bottom <= innerHeight; }")


def test_a_new_item_is_shown_from_its_top(serve, page):
    long_rows = [{"id": f"r{i}", **{f"column {j}": f"value {i}.{j}" for j in range(40)}}
                 for i in range(4)]
    server = serve(long_rows, "--id-column", "id")
    page.set_viewport_size({"width": 375, "height": 740})  # a phone
    first = open_app(page, server.url)
    class_button(page, "bird").scroll_into_view_if_needed()
    assert page.evaluate("scrollY") > 0
    class_button(page, "bird").click()
    second = wait_item_change(page, first)
    page.wait_for_function("() => document.querySelector('.al-item-head')")
    assert item_head_in_view(page)

    page.set_viewport_size({"width": 1280, "height": 700})  # a desktop, with the keyboard
    page.keyboard.press("End")  # the item's box to its end: PgDn then scrolls the page
    page.wait_for_function("() => { const b = document.querySelector('.al-item-body');"
                           " return b.scrollTop + b.clientHeight >= b.scrollHeight - 1; }")
    page.keyboard.press("PageDown")
    # PgDn scrolls smoothly: wait until the page is at rest, as a reader would.
    page.evaluate("""() => new Promise((done) => {
        let last = -1;
        const check = () => {
          if (scrollY > 0 && scrollY === last) done();
          else { last = scrollY; setTimeout(check, 150); }
        };
        check();
    })""")
    body = page.locator(".al-item-body")  # a long item scrolls in its own box too
    body.evaluate("el => { el.scrollTop = 200; }")
    assert body.evaluate("el => el.scrollTop") > 0
    page.keyboard.press("1")
    wait_item_change(page, second)
    assert item_head_in_view(page)
    assert body.evaluate("el => el.scrollTop") == 0


def test_leaving_the_page_with_an_unsaved_comment_asks_first(serve, page, dialogs):
    server = serve(rows(3), "--id-column", "id")
    first = open_app(page, server.url)
    page.keyboard.press("c")
    page.keyboard.type("half a thought")
    page.keyboard.press("Escape")
    with page.expect_event("dialog"):
        page.close(run_before_unload=True)
    assert [kind for kind, _ in dialogs] == ["beforeunload"]
    dialogs.clear()  # dismissed: the page stays, with the comment
    assert not page.is_closed()
    expect(page.locator("#al-comment")).to_have_value("half a thought")

    page.keyboard.press("2")
    wait_item_change(page, first)
    expect(page.locator(".al-save-state")).to_have_attribute("data-state", "saved")
    with page.expect_event("close"):
        page.close(run_before_unload=True)
    assert dialogs == []
    assert server.export("metadata")[0]["comment"] == "half a thought"


def test_choices_made_while_a_save_hangs_show_at_once_and_wait_for_it(serve, page):
    server = serve(rows(8), "--id-column", "id")
    page.clock.install()  # the save's time limit passes at once
    first = open_app(page, server.url)
    expect(page.locator(".al-save-state")).to_have_text("")
    page.wait_for_load_state("networkidle")
    hint = page.locator(".al-hint")

    # The server hangs: the next item shows, and what is pressed on it shows at once.
    server.pause()
    page.keyboard.press("1")
    second = wait_item_change(page, first)
    page.keyboard.press("2")
    expect(class_button(page, "dog")).to_have_attribute("aria-pressed", "true")
    expect(hint).to_contain_text("waits for the previous save")
    page.keyboard.press("3")  # changed her mind: the last choice counts
    expect(class_button(page, "bird")).to_have_attribute("aria-pressed", "true")
    expect(class_button(page, "dog")).to_have_attribute("aria-pressed", "false")
    expect_item(page, second, "new")
    server.resume()
    third = wait_item_change(page, second)
    expect_stat(page, "mine-labeled", 2)
    expect(hint).to_be_hidden()

    # A save that never answers is given up after 10 s; the choice made meanwhile on the
    # next item is kept, and said not to be saved when that item comes back.
    server.pause()
    page.keyboard.press("1")
    fourth = wait_item_change(page, third)
    page.keyboard.press("2")
    expect(hint).to_contain_text("waits for the previous save")
    page.keyboard.press("c")
    page.keyboard.type("meanwhile")
    page.keyboard.press("Escape")
    page.clock.run_for(10_000)
    error = page.locator(".al-error")
    expect(error).to_contain_text("did not answer in time")
    expect_item(page, third, "new")
    expect(hint).to_be_hidden()
    server.resume()
    page.keyboard.press("Enter")
    expect_item(page, fourth, "new")
    expect(class_button(page, "dog")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#al-comment")).to_have_value("meanwhile")
    expect(page.locator(".al-position")).to_contain_text("Not saved yet")
    expect(hint).to_contain_text("not saved yet")
    page.keyboard.press("Enter")
    wait_item_change(page, fourth)
    expect_stat(page, "mine-labeled", 4)
    labels = {row["id"]: row["label"] for row in server.export("labels")}
    assert labels == {first: "cat", second: "bird", third: "cat", fourth: "dog"}
    assert {r["data_id"]: r["comment"] for r in server.export("metadata")}[fourth] == "meanwhile"


def test_a_second_tab_never_overwrites_the_label_of_the_first(serve, page, browser):
    """Two tabs of one user are handed the same reserved items: the label saved first is
    kept, and the other tab says so and moves on."""
    server = serve(rows(5), "--id-column", "id")
    other = browser.new_context(viewport={"width": 1280, "height": 900})
    other.set_default_timeout(10_000)
    try:
        tab_b = other.new_page()
        problems: list[str] = []
        tab_b.on("pageerror", lambda exc: problems.append(f"script error: {exc}"))
        first = open_app(page, server.url)
        assert open_app(tab_b, server.url) == first  # the same reserved item

        page.keyboard.press("1")  # A: cat
        wait_item_change(page, first)
        expect_stat(page, "mine-labeled", 1)
        tab_b.locator("#al-comment").fill("blurry")
        tab_b.locator("#al-comment").press("Escape")
        tab_b.keyboard.press("2")  # B: dog, later, with a comment
        after = wait_item_change(tab_b, first)
        hint = tab_b.locator(".al-notices")
        expect(hint).to_contain_text(
            "Already labeled as cat in another tab or window: kept")
        expect(hint).to_contain_text("your comment waits on it in your history")
        expect(tab_b.locator(".al-save-state")).not_to_have_text("Not saved")
        expect_stat(tab_b, "mine-labeled", 1)
        assert {r["id"]: r["label"] for r in server.export("labels")} == {first: "cat"}

        # B's history shows the kept label, with the notice; B goes on labeling.
        tab_b.keyboard.press("ArrowLeft")
        expect_item(tab_b, first, "past")
        expect(tab_b.locator(".al-chip-label")).to_contain_text("cat")
        expect(class_button(tab_b, "cat")).to_have_attribute("aria-pressed", "true")
        expect(tab_b.locator(".al-position")).to_contain_text("another tab")
        expect(tab_b.locator("#al-comment")).to_have_value("blurry")  # kept, unsaved
        tab_b.keyboard.press("ArrowRight")
        expect_item(tab_b, after, "new")
        tab_b.keyboard.press("3")
        wait_item_change(tab_b, after)
        expect_stat(tab_b, "mine-labeled", 2)
        # An edit from the history is still an edit: B may change the label on purpose.
        tab_b.keyboard.press("ArrowLeft")
        tab_b.keyboard.press("ArrowLeft")
        expect_item(tab_b, first, "past")
        tab_b.keyboard.press("2")
        expect_item(tab_b, after, "past")
        expect(tab_b.locator(".al-save-state")).to_have_text("All saved")
        labels = {r["id"]: r["label"] for r in server.export("labels")}
        assert labels == {first: "dog", after: "bird"}
        comments = {r["data_id"]: r["comment"] for r in server.export("metadata")}
        assert comments[first] == "blurry"
        assert not problems, problems
    finally:
        other.close()


def test_a_retried_save_that_had_reached_the_server_is_no_conflict(serve, page):
    """A save times out although the server stored it; saving the item again (even with
    another choice) is this page's own edit, not a label from another tab."""
    server = serve(rows(4), "--id-column", "id")
    page.clock.install()  # the save's time limit passes when the test says so
    first = open_app(page, server.url)
    held, sent = hold_first_save(page)
    page.clock.run_for(5_000)  # 5 s on the item
    page.keyboard.press("1")
    deadline = time.monotonic() + 10
    while not held and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    assert len(held) == 1, f"the first save was not held in the network: {sent}"
    assert held[0].fetch().status == 201  # the server stores it, but its answer never arrives
    page.clock.run_for(10_000)
    # No answer: the page cannot tell whether the server stored it, and says so.
    error = page.locator(".al-error")
    expect(error).to_contain_text("Not confirmed: the label")
    expect(error).to_contain_text("It may have been saved before the answer was lost")
    expect(page.locator(".al-save-state")).to_have_text("Not confirmed")
    expect_item(page, first, "new")
    assert sent[0]["new"] is True
    page.keyboard.press("2")  # another choice, saved again
    wait_item_change(page, first)
    expect(page.locator(".al-error")).to_be_hidden()
    expect(page.locator(".al-notices")).not_to_contain_text("another tab")
    expect(page.locator(".al-save-state")).to_have_text("All saved")
    assert {r["id"]: r["label"] for r in server.export("labels")} == {first: "dog"}
    assert len(sent) == 2  # the server took the second first save as this page's edit
    # The server counted the first save's 5 s: the second sends only the time after it.
    assert sent[0]["duration_ms"] >= 5_000 and sent[1]["duration_ms"] < 5_000
    with contextlib.suppress(PlaywrightError):  # the page gave up on it
        held[0].abort()


def test_a_gateway_error_on_a_stored_save_neither_conflicts_nor_counts_time_twice(serve,
                                                                                 page):
    """A proxy answers 502 although the server stored the save: saving the item again
    is this page's edit, and sends only the time spent after the first save."""
    server = serve(rows(4), "--id-column", "id")
    page.clock.install()
    first = open_app(page, server.url)
    sent: list[dict] = []

    def gateway_error_first(route):
        sent.append(route.request.post_data_json)
        response = route.fetch()  # stored by the server …
        if len(sent) == 1:  # … but the proxy in front of it answers with its own page
            route.fulfill(status=502, content_type="text/html", body="<h1>Bad gateway</h1>")
        else:
            route.fulfill(response=response)

    page.route("**/api/annotations", gateway_error_first)
    page.clock.run_for(5_000)  # 5 s on the item
    page.keyboard.press("1")
    expect(page.locator(".al-error")).to_contain_text("bad gateway")
    expect_item(page, first, "new")
    page.keyboard.press("2")
    wait_item_change(page, first)
    expect(page.locator(".al-save-state")).to_have_text("All saved")
    expect(page.locator(".al-notices")).not_to_contain_text("another tab")
    assert {r["id"]: r["label"] for r in server.export("labels")} == {first: "dog"}
    assert sent[0]["duration_ms"] >= 5_000 and sent[1]["duration_ms"] < 5_000


def hold_first_save(page) -> tuple[list, list[dict]]:
    """Keep the next save stuck in the network (its route in ``held``) and let later
    ones through; ``sent`` collects every save's body in the order sent."""
    held: list = []
    sent: list[dict] = []

    def deliver_late(route):
        sent.append(route.request.post_data_json)
        if len(sent) == 1:
            held.append(route)
        else:
            route.fulfill(response=route.fetch())

    page.route("**/api/annotations", deliver_late)
    return held, sent


def hang_an_edit(serve, page):
    """The first item is labeled cat, then changed to dog from the history: that save
    hangs in the network and the page gives up on it (``held``). Returns the server,
    the item, ``held`` and the bodies ``sent``."""
    server = serve(rows(4), "--id-column", "id")
    page.clock.install()  # the save's time limit passes at once
    first = open_app(page, server.url)
    page.keyboard.press("1")  # cat
    wait_item_change(page, first)
    expect(page.locator(".al-save-state")).to_have_text("All saved")
    held, sent = hold_first_save(page)
    page.keyboard.press("ArrowLeft")
    expect_item(page, first, "past")
    page.keyboard.press("2")  # dog: this save hangs
    page.clock.run_for(10_000)
    expect(page.locator(".al-error")).to_contain_text("did not answer in time")
    expect_item(page, first, "past")
    return server, first, held, sent


def test_a_save_given_up_on_that_arrives_late_never_undoes_a_later_one(serve, page):
    """An edit hangs, the page gives up on it, and the labeler chooses again; the network
    then delivers the first request after the second: the later choice stays."""
    server, first, held, sent = hang_an_edit(serve, page)
    page.keyboard.press("3")  # bird, saved at once
    expect(page.locator(".al-save-state")).to_have_text("All saved")
    late = held[0].fetch()  # the first request reaches the server at last
    assert late.status == 409 and late.json()["code"] == "stale"
    assert {r["id"]: r["label"] for r in server.export("labels")} == {first: "bird"}
    assert [b["label"] for b in sent] == ["dog", "bird"]
    assert sent[0]["client_id"] == sent[1]["client_id"]
    assert sent[0]["sequence"] < sent[1]["sequence"]
    with contextlib.suppress(PlaywrightError):  # the page gave up on it long ago
        held[0].abort()


def test_going_back_to_the_stored_label_after_a_hung_save_is_saved_too(serve, page):
    """The labeler changes a past label, that save hangs and is given up, and she goes
    back to the label stored before: that is sent too (the hung one may arrive yet)."""
    server, first, held, sent = hang_an_edit(serve, page)
    page.keyboard.press("1")  # cat again, as stored before
    expect(page.locator(".al-save-state")).to_have_text("All saved")
    assert [b["label"] for b in sent] == ["dog", "cat"]
    assert held[0].fetch().status == 409  # stale: the dog arrives after the cat
    assert {r["id"]: r["label"] for r in server.export("labels")} == {first: "cat"}
    with contextlib.suppress(PlaywrightError):
        held[0].abort()


def serve_ranked(serve, tmp_path):
    """Six rows ranked by a queries file of session 1, each item showing uncertainty
    0.50."""
    queries = tmp_path / "queries.csv"
    queries.write_text("id,text,n,uncertainty,model_uncertainty,session\n"
                       + "".join(f"r{i:02d},Row number {i},{i},{0.9 - i / 100},0.5,1\n"
                                 for i in range(6)))
    return serve(rows(6), "--id-column", "id", "--queries", str(queries))


def test_a_failed_retraining_is_told_with_the_next_save(serve, page):
    """A failed retraining changes no session: the answers carry a tag of its warning, so
    that labelers learn of it within a label, not a minute (and many labels) later."""
    from assisted_labeling.retrain import PROBLEM

    server = serve(rows(8), "--id-column", "id", "--retrain-every", "2")
    warnings = page.locator(".al-warnings")
    current = open_app(page, server.url)
    for _ in range(2):  # two labels of one class: the model cannot be trained yet
        page.keyboard.press("1")
        current = wait_item_change(page, current)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with closing(sqlite3.connect(server.store)) as db:
            row = db.execute("SELECT value FROM meta WHERE key = ?", (PROBLEM,)).fetchone()
        if row and row[0]:
            break
        page.wait_for_timeout(200)
    else:
        raise AssertionError("the retraining recorded no problem")
    expect(warnings).to_be_hidden()  # the page has not read its configuration since
    page.keyboard.press("1")  # one class still: the warning holds
    expect(warnings).to_contain_text("could not be trained yet", timeout=5_000)
    expect(warnings).to_contain_text("at least 2 classes")


def test_the_page_says_which_model_ranks_the_queue(serve, page):
    """Labelers see when the model was last trained and how often it is: otherwise its
    scores just start showing, and the order changes unexplained."""
    server = serve(rows(10), "--id-column", "id", "--retrain-every", "2")
    model = page.locator(".al-model")
    current = open_app(page, server.url)
    expect(model).to_have_text("The model trains after every 2 new labels and ranks the "
                               "queue.")
    for key in ("1", "2"):  # two classes: it can be trained
        page.keyboard.press(key)
        current = wait_item_change(page, current)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with closing(sqlite3.connect(server.store)) as db:
            row = db.execute("SELECT value FROM meta WHERE key = 'session'").fetchone()
        if row and row[0] == "1":
            break
        page.wait_for_timeout(200)
    else:
        raise AssertionError("no retraining")
    page.keyboard.press("1")  # the answer names the new session: the page reads it
    expect(model).to_contain_text("Model #1 trained on 2 labels at ", timeout=5_000)
    expect(model).to_contain_text("it retrains after every 2 new labels")


def test_a_model_retrained_by_an_earlier_version_shows_no_time(serve, page):
    """Stores retrained before the time was recorded: no made-up time (the epoch)."""
    from assisted_labeling.retrain import METRICS
    from assisted_labeling.store.sqlite import SQLiteStore

    server = serve(rows(6), "--id-column", "id", "--retrain-every", "50")
    SQLiteStore(server.store).set_metas({METRICS: json.dumps(
        [{"session": 3, "n_labels": 40, "n_queries": 6, "seconds": 0.5}]), "session": "3"})
    open_app(page, server.url)
    expect(page.locator(".al-model")).to_have_text(
        "Model #3 trained on 40 labels; it retrains after every 50 new labels and ranks "
        "the queue again.")


def test_a_dismissed_warning_about_one_class_does_not_hide_one_about_another(serve, page):
    server = serve(rows(4), "--id-column", "id")
    shown = ['Some labels hold classes that are no longer categories: "grade1" (3)']

    def with_warning(route):
        response = route.fetch()
        route.fulfill(response=response, json={**response.json(), "warnings": shown})

    page.clock.install()
    page.route("**/api/config*", with_warning)
    open_app(page, server.url)
    warnings = page.locator(".al-warnings")
    expect(warnings).to_contain_text("grade1")
    page.get_by_role("button", name="Hide these warnings").click()
    expect(warnings).to_be_hidden()
    shown[0] = 'Some labels hold classes that are no longer categories: "grade2" (40)'
    page.clock.run_for(61_000)
    expect(warnings).to_contain_text("grade2")
    expect(warnings).to_be_visible()


def test_no_model_line_without_retraining(serve, page):
    server = serve(rows(3), "--id-column", "id")
    open_app(page, server.url)
    expect(page.locator(".al-model")).to_be_hidden()


def test_uncertainty_near_one_shows_three_decimals(serve, page, tmp_path):
    """A fresh model rates most of a big pool near 1: "1.00" for all would say nothing."""
    queries = tmp_path / "queries.csv"
    shown = [0.9999, 0.9987, 0.5]
    queries.write_text("id,text,n,uncertainty,model_uncertainty,session\n" + "".join(
        f"r{i:02d},Row number {i},{i},{0.9 - i / 100},{u},1\n" for i, u in enumerate(shown)))
    server = serve(rows(3), "--id-column", "id", "--queries", str(queries))
    badge = page.locator(".al-badge-uncertainty")
    current = open_app(page, server.url)
    for text in ("Uncertainty 0.999", "Uncertainty 0.998", "Uncertainty 0.50"):
        expect(badge).to_have_text(text)
        page.keyboard.press("1")
        if text != "Uncertainty 0.50":
            current = wait_item_change(page, current)


def retrained(server, metas=None) -> None:
    """What a retraining writes to the store of ``serve_ranked``'s server: new scores
    (0.25 shown for every item), session 2 and ``metas``."""
    from assisted_labeling.store.sqlite import SQLiteStore

    store = SQLiteStore(server.store)
    store.set_priorities([(f"r{i:02d}", 0.9 - i / 100, 0.25) for i in range(6)])
    store.set_metas({"session": "2", **(metas or {})})
    store.close()


def test_prefetched_items_show_the_scores_of_the_retrained_model(serve, page, tmp_path):
    """The model is retrained while the page is open (the session grows): the items
    fetched ahead of time are asked for again, so that they show the new model's doubt."""
    server = serve_ranked(serve, tmp_path)
    page.clock.install()  # the minute between two reads of the config passes at once
    badge = page.locator(".al-badge-uncertainty")
    assert open_app(page, server.url) == "r00"
    expect(badge).to_have_text("Uncertainty 0.50")
    page.wait_for_timeout(300)  # the items after it are fetched ahead

    retrained(server)
    with page.expect_response(lambda r: "/api/next" in r.url):
        page.clock.run_for(61_000)
    page.wait_for_timeout(300)
    expect(badge).to_have_text("Uncertainty 0.50")  # the item on screen stays as it is
    page.keyboard.press("1")
    expect_item(page, "r01", "new")
    expect(badge).to_have_text("Uncertainty 0.25")
    page.keyboard.press("2")
    expect_item(page, "r02", "new")
    expect(badge).to_have_text("Uncertainty 0.25")
    assert {r["id"]: r["label"] for r in server.export("labels")} == {"r00": "cat",
                                                                       "r01": "dog"}


def test_after_a_retraining_its_top_items_come_next_not_those_fetched_ahead(
        serve, page, tmp_path):
    """The items fetched ahead were picked by the old model: with a retraining every few
    labels they would be most of each batch. They are given back to the queue, and the
    new model's most uncertain items come next; another labeler may take them."""
    from assisted_labeling.store.sqlite import SQLiteStore

    server = serve_ranked(serve, tmp_path)
    page.clock.install()
    assert open_app(page, server.url) == "r00"
    page.wait_for_load_state("networkidle")  # r01, r02, r03 fetched ahead

    store = SQLiteStore(server.store)  # the new model ranks them the other way round
    store.set_priorities([(f"r{i:02d}", 0.1 + i / 100, 0.3) for i in range(6)])
    store.set_metas({"session": "2"})
    store.close()
    with page.expect_response(lambda r: "/api/next" in r.url):
        page.clock.run_for(61_000)
    page.wait_for_load_state("networkidle")
    store = SQLiteStore(server.store)
    try:  # r01 and r02 were given back: another labeler gets them
        assert [i.key for i in store.next_items("bob", count=2)] == ["r02", "r01"]
    finally:
        store.close()
    expect_item(page, "r00", "new")  # the item on screen stays
    for expected in ("r05", "r04", "r03"):
        page.keyboard.press("1")
        expect_item(page, expected, "new")


def test_a_retraining_reaches_the_page_with_the_next_save(serve, page, tmp_path):
    """A fast loop retrains every few labels: the page learns of the new session from the
    answer to a save, not a minute later, so that a warning that holds for one retraining
    is seen, and the items fetched ahead show the new model's scores."""
    from assisted_labeling.retrain import METRICS

    server = serve_ranked(serve, tmp_path)
    badge = page.locator(".al-badge-uncertainty")
    warnings = page.locator(".al-warnings")
    assert open_app(page, server.url) == "r00"
    expect(badge).to_have_text("Uncertainty 0.50")
    page.wait_for_load_state("networkidle")  # the items after it are fetched ahead

    retrained(server, {METRICS: json.dumps(STALLED)})
    page.keyboard.press("1")
    expect_item(page, "r01", "new")
    # Well within the minute between two periodic reads of the configuration.
    expect(warnings).to_contain_text("Labeling more may not help", timeout=5_000)
    page.wait_for_load_state("networkidle")  # the items ahead are fetched again
    page.keyboard.press("2")
    expect_item(page, "r02", "new")
    expect(badge).to_have_text("Uncertainty 0.25")
    assert {r["id"]: r["label"] for r in server.export("labels")} == {"r00": "cat",
                                                                       "r01": "dog"}


def test_classes_named_like_object_methods_are_counted_as_any_other(serve, page):
    # Counts read from a plain object gave "hasOwnProperty" a function for a count.
    server = serve(rows(3), "--id-column", "id",
                   categories="hasOwnProperty,constructor,valueOf")
    open_app(page, server.url)
    counts = page.locator(".al-class-counts .al-cc-n")
    expect(counts).to_have_text(["0", "0", "0"])
    page.keyboard.press("2")
    expect(counts).to_have_text(["0", "1", "0"])
    bars = page.locator(".al-class-counts .al-cc-bar > span")
    assert bars.nth(0).evaluate("e => e.style.width") == "0%"
    assert bars.nth(1).evaluate("e => e.style.width") == "100%"


def test_the_header_says_not_saved_while_a_choice_is_unsaved(serve, page):
    server = serve(rows(5), "--id-column", "id")
    first = open_app(page, server.url)
    page.keyboard.press("1")
    second = wait_item_change(page, first)
    server.stop()
    page.keyboard.press("s")  # cannot reach the server: the skip waits to be sent again
    expect(page.locator(".al-error")).to_contain_text("Cannot reach the server")
    server.launch()
    page.keyboard.press("ArrowLeft")
    expect_item(page, first, "past")
    page.keyboard.press("2")  # an edit of the first item, stored
    expect(page.locator(".al-save-state")).to_have_text("Not saved")  # the skip is not
    page.keyboard.press("ArrowRight")
    expect_item(page, second, "new")
    page.keyboard.press("s")
    wait_item_change(page, second)
    expect(page.locator(".al-save-state")).to_have_text("All saved")


def test_the_share_complete_reaches_100_only_when_nothing_remains(serve, page):
    server = serve(rows(3), "--id-column", "id")
    open_app(page, server.url)
    shown = page.evaluate("""async () => {
        const { Progress } = await import(
            "/plugins/ml-assisted-labeling/resource/labeling-ui/progress.js");
        const summary = document.createElement("div");
        const progress = new Progress({ categories: [] }, summary,
                                      document.createElement("div"));
        const texts = [];
        for (const [complete, total] of [[239, 240], [240, 240], [1, 1000], [0, 0]]) {
            progress.update({ total, complete, remaining: total - complete, mine: {} });
            texts.push(summary.textContent);
        }
        return texts;
    }""")
    assert shown == ["99% · 1 remaining of 240", "100% · 0 remaining of 240",
                     "0% · 999 remaining of 1,000", "0% · 0 remaining of 0"]


def test_keypad_arrows_with_numlock_off_move_rather_than_label(serve, page):
    server = serve(rows(3), "--id-column", "id")
    open_app(page, server.url)
    actions = page.evaluate("""async () => {
        const { actionFor } = await import(
            "/plugins/ml-assisted-labeling/resource/labeling-ui/keys.js");
        const ask = (key, code) => actionFor({ key, code });
        return [ask("ArrowLeft", "Numpad4"), ask("End", "Numpad1"),
                ask("4", "Numpad4"), ask("&", "Digit1"), ask("/", "Digit7"),
                ask("?", "Digit1")];
    }""")
    # AZERTY's "&" is the 1 key; on German or Nordic keyboards "/" is Shift+7.
    assert actions == [{"action": "back"}, None, {"action": "class", "index": 3},
                       {"action": "class", "index": 0}, {"action": "find"},
                       {"action": "help"}]


def test_right_to_left_text_is_laid_out_right_to_left(serve, page):
    server = serve([{"id": "r1", "text": "مرحبا بالعالم!"}], "--id-column", "id")
    open_app(page, server.url)
    cell = page.locator(".al-item-body td").nth(1)
    expect(cell).to_have_attribute("dir", "auto")
    assert cell.evaluate("e => getComputedStyle(e).direction") == "rtl"


def test_the_keys_button_leaves_enter_to_the_item_and_question_mark_closes_help(serve,
                                                                               page):
    server = serve(rows(3), "--id-column", "id")
    first = open_app(page, server.url)
    help_dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    page.get_by_role("button", name="Keys").click()
    expect(help_dialog).to_be_visible()
    page.keyboard.press("?")
    expect(help_dialog).to_be_hidden()
    # Focus is back on the item, not on the button, which Enter would press again.
    assert page.evaluate("!document.activeElement.closest('button')")
    page.keyboard.press("1")
    wait_item_change(page, first)


def test_a_screen_reader_hears_the_save_and_the_next_item(serve, page):
    server = serve(rows(3), "--id-column", "id")
    first = open_app(page, server.url)
    page.keyboard.press("1")
    second = wait_item_change(page, first)
    live = page.locator("[aria-live=polite]").first
    number = int(second[1:])
    expect(live).to_have_text(f"Saved: cat. Next item: id: {second}; text: Row number "
                              f"{number}; n: {number}")
    page.keyboard.press("s")
    wait_item_change(page, second)
    expect(live).to_contain_text("Skipped. Next item: id: r")


def test_past_ten_classes_a_class_is_found_by_its_name(serve, page):
    names = [f"class{i:02d}" for i in range(1, 33)]
    server = serve(rows(3), "--id-column", "id", categories=",".join(names))
    first = open_app(page, server.url)
    page.keyboard.press("/")
    finder = page.get_by_role("searchbox", name="Find a class by its name")
    expect(finder).to_be_focused()
    page.keyboard.type("ss2")
    expect(page.locator(".al-class:visible")).to_have_count(10)  # class20 … class29
    page.keyboard.type("5")
    expect(page.locator(".al-class:visible")).to_have_count(1)
    page.keyboard.press("Enter")
    second = wait_item_change(page, first)
    expect(page.locator(".al-class:visible")).to_have_count(32)  # the finder is emptied
    page.keyboard.press("1")  # focus is back on the item: the digit keys work
    wait_item_change(page, second)
    page.keyboard.press("/")
    page.keyboard.type("class0")
    for composing in ("{isComposing: true}", "{keyCode: 229}"):  # an input method's Enter
        finder.evaluate(f"e => e.dispatchEvent(new KeyboardEvent('keydown', "
                        f"{{key: 'Enter', bubbles: true, ...{composing}}}))")
    expect(finder).to_have_value("class0")  # nothing chosen
    page.keyboard.type("nothing")
    page.keyboard.press("Escape")
    expect(finder).to_have_value("")
    expect(finder).not_to_be_focused()
    labels = {row["id"]: row["label"] for row in server.export("labels")}
    assert labels == {first: "class25", second: "class01"}


def test_with_few_classes_slash_says_every_class_has_its_key(serve, page):
    server = serve(rows(2), "--id-column", "id")
    open_app(page, server.url)
    page.keyboard.press("/")
    expect(page.locator(".al-hint")).to_contain_text("Every class has its key here: 1–3")


def test_the_class_finder_in_multi_label_selects_and_ends_with_its_item(serve, page):
    names = [f"class{i:02d}" for i in range(1, 13)]
    server = serve(rows(3), "--id-column", "id", "--multi-label",
                   categories=",".join(names))
    first = open_app(page, server.url)
    page.keyboard.press("/")
    page.keyboard.type("11")
    expect(page.locator("[aria-live=polite]").first).to_have_text("1 class")
    page.keyboard.press("Enter")  # selects, does not save
    expect(class_button(page, "class11")).to_have_attribute("aria-pressed", "true")
    expect_item(page, first)
    page.keyboard.press("/")
    page.keyboard.type("12")
    page.keyboard.press("Tab")  # leaves the box with its search in it
    class_button(page, "class12").click()
    page.keyboard.press("Enter")  # saves both
    wait_item_change(page, first)
    expect(page.locator(".al-class:visible")).to_have_count(12)  # a new item: no search
    labels = {row["id"]: row["label"] for row in server.export("labels")}
    assert json.loads(labels[first]) == ["class11", "class12"]


def test_a_page_in_use_renews_its_reservations_and_a_page_left_alone_does_not(serve,
                                                                               page):
    server = serve(rows(3), "--id-column", "id")
    page.clock.install()
    reads: list[str] = []
    page.on("request", lambda r: reads.append(r.url) if "/api/config" in r.url else None)
    open_app(page, server.url)
    page.keyboard.press("x")  # any key: the labeler is there
    reads.clear()
    page.clock.run_for(61_000)
    page.wait_for_timeout(500)  # real time, for the read to go out
    assert reads and all("active=1" in url for url in reads), reads
    reads.clear()
    page.clock.run_for(11 * 60_000)  # no key, no click for longer than a reservation
    page.wait_for_timeout(500)
    assert reads and "active=1" not in reads[-1], reads


CONTRAST_JS = """() => {
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length === 3 || c[3] > 0.5) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const low = [];
  for (const el of document.querySelectorAll("body *")) {
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    const box = el.getBoundingClientRect();
    if (!own || !box.width || !box.height) continue;
    const style = getComputedStyle(el);
    if (style.visibility === "hidden" || Number(style.opacity) < 0.5) continue;
    const a = lum(rgb(style.color).slice(0, 3)), b = lum(background(el));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const size = parseFloat(style.fontSize), bold = Number(style.fontWeight) >= 700;
    const needed = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
    const text = el.textContent.trim().slice(0, 30);
    if (ratio < needed) low.push(`${el.className || el.tagName}: ${ratio.toFixed(2)} "${text}"`);
  }
  return low;
}"""


def test_every_text_on_the_page_is_readable_against_its_background(serve, page, tmp_path):
    """WCAG AA contrast (4.5:1, 3:1 for large text) for every visible text: the item,
    the classes with a suggestion, the uncertainty and the stopping warning."""
    from assisted_labeling.retrain import METRICS
    from assisted_labeling.store.sqlite import SQLiteStore

    queries = tmp_path / "queries.csv"
    queries.write_text("id,text,guess,uncertainty,model_uncertainty,session\n"
                       "a,first,dog,0.9,0.875,1\nb,second,cat,0.8,0.5,1\n")
    server = serve([{"id": "a", "text": "first", "guess": "dog"},
                    {"id": "b", "text": "second", "guess": "cat"}], "--id-column", "id",
                   "--existing-labels-column", "guess", "--queries", str(queries))
    SQLiteStore(server.store).set_meta(METRICS, json.dumps(STALLED))
    open_app(page, server.url)
    expect(page.locator(".al-warnings")).to_contain_text("Labeling more may not help")
    expect(page.locator(".al-badge-suggestion")).to_contain_text("dog")
    assert page.evaluate(CONTRAST_JS) == []


def test_the_reading_keys_scroll_a_long_item_in_its_box(serve, page):
    """Focus is on the card after each save: ↓, PgDn, Space and End scroll the item's
    own box (it holds 60 % of the window), then the page once the box is at its end."""
    text = " ".join(f"word{i}" for i in range(1500)) + " END_OF_LONG"
    server = serve([{"id": "a", "text": text}, {"id": "b", "text": text}],
                   "--id-column", "id")
    page.set_viewport_size({"width": 1280, "height": 700})
    first = open_app(page, server.url)
    body = page.locator(".al-item-body")
    end = page.get_by_text("END_OF_LONG", exact=False)

    def top() -> float:
        return body.evaluate("el => el.scrollTop")

    page.keyboard.press("ArrowDown")
    page.wait_for_function("() => document.querySelector('.al-item-body').scrollTop > 0")
    for key in ("PageDown", " "):
        before = top()
        page.keyboard.press(key)
        page.wait_for_function(
            f"() => document.querySelector('.al-item-body').scrollTop > {before + 100}")
    assert page.evaluate("scrollY") == 0  # the box scrolled, not the page
    page.keyboard.press("End")
    page.wait_for_function("() => { const b = document.querySelector('.al-item-body');"
                           " return b.scrollTop + b.clientHeight >= b.scrollHeight - 1; }")
    expect(end).to_be_in_viewport()
    page.keyboard.press("Home")
    page.wait_for_function("() => document.querySelector('.al-item-body').scrollTop === 0")
    expect(page.locator(".al-keys-card")).to_contain_text("Scroll a long item")
    page.keyboard.press("1")  # labeling keys still label
    wait_item_change(page, first)


def test_an_item_saved_in_one_tab_leaves_the_other_tabs_of_its_user(serve, page):
    """Tabs of one browser are one user with the same reserved items: an item one tab
    saves is dropped by the other, on screen too when nothing was chosen on it there,
    instead of being labeled twice (the second refused)."""
    server = serve(rows(6), "--id-column", "id")
    tab_b = page.context.new_page()
    try:
        first = open_app(page, server.url)
        assert open_app(tab_b, server.url) == first  # the same reserved item
        tab_b.wait_for_load_state("networkidle")  # B's items fetched ahead
        page.keyboard.press("1")
        second = wait_item_change(page, first)
        expect(tab_b.locator(".al-notices")).to_contain_text("saved in another tab")
        on_b = item_id(tab_b)
        assert on_b != first
        page.keyboard.press("2")  # A labels the item B shows now, and the next ones
        wait_item_change(page, second)
        if on_b == second:
            expect(tab_b.locator(".al-item")).not_to_have_attribute("data-item-id", second)
        on_b = item_id(tab_b)
        tab_b.keyboard.press("3")
        wait_item_change(tab_b, on_b)
        expect(tab_b.locator(".al-notices")).not_to_contain_text("Already labeled")
        labels = {r["id"]: r["label"] for r in server.export("labels")}
        assert len(labels) == 3 and labels[first] == "cat" and labels[on_b] == "bird"
    finally:
        tab_b.close()


def test_on_a_phone_a_stopping_warning_leaves_the_classes_in_view(serve, page):
    """The warning's figures fold under "Details": its plain words alone take the
    screen, and every class stays within reach on a phone."""
    from assisted_labeling.retrain import METRICS
    from assisted_labeling.store.sqlite import SQLiteStore

    server = serve(rows(3), "--id-column", "id")
    SQLiteStore(server.store).set_meta(METRICS, json.dumps(STALLED))
    page.set_viewport_size({"width": 390, "height": 844})
    open_app(page, server.url)
    warnings = page.locator(".al-warnings")
    expect(warnings).to_contain_text("Labeling more may not help")
    details = warnings.locator("details")
    expect(details).not_to_have_attribute("open", "")
    for name in CLASSES:
        expect(class_button(page, name)).to_be_in_viewport(ratio=1)
    details.locator("summary").click()
    expect(details).to_have_attribute("open", "")
    expect(details).to_contain_text("retrainings changed its prediction")


def test_the_reading_keys_scroll_the_instructions_once_clicked(serve, page, tmp_path):
    """A click in the long instructions gives them the reading keys, as the browser
    does; the next item gives them back to the item."""
    instructions = tmp_path / "instructions.md"
    instructions.write_text("\n\n".join(f"Rule {i}: label carefully." for i in range(80)),
                            encoding="utf-8")
    text = " ".join(f"word{i}" for i in range(1500))
    server = serve([{"id": "a", "text": text}, {"id": "b", "text": text}],
                   "--id-column", "id", "--instructions", str(instructions))
    page.set_viewport_size({"width": 1280, "height": 700})
    first = open_app(page, server.url)
    markdown = page.locator(".al-markdown")
    if not markdown.is_visible():
        page.keyboard.press("i")
    markdown.locator("p").first.click()
    page.keyboard.press("PageDown")
    page.wait_for_function("() => document.querySelector('.al-markdown').scrollTop > 0")
    assert page.locator(".al-item-body").evaluate("el => el.scrollTop") == 0
    page.keyboard.press("1")
    wait_item_change(page, first)
    page.keyboard.press("PageDown")
    page.wait_for_function("() => document.querySelector('.al-item-body').scrollTop > 0")


def test_a_retraining_leaves_reserved_the_item_another_tab_shows(serve, page, tmp_path):
    """Tab A stays on an item with a comment typed while tab B labels on: B's item is in
    A's queue. After a retraining A gives back its items fetched ahead, but not the one
    B's user is labeling (another labeler would get it too)."""
    from assisted_labeling.store.sqlite import SQLiteStore

    server = serve_ranked(serve, tmp_path)
    page.clock.install()
    tab_b = page.context.new_page()
    try:
        assert open_app(page, server.url) == "r00"
        page.wait_for_load_state("networkidle")  # A: r01, r02, r03 fetched ahead
        assert open_app(tab_b, server.url) == "r00"
        page.locator("#al-comment").fill("unsure")
        page.locator("#al-comment").press("Escape")
        tab_b.keyboard.press("1")
        expect_item(tab_b, "r01", "new")
        expect_item(page, "r00", "new")  # A keeps its comment on screen

        store = SQLiteStore(server.store)
        store.set_priorities([(f"r{i:02d}", 0.1 + i / 100, 0.3) for i in range(6)])
        store.set_metas({"session": "2"})
        store.close()
        with page.expect_request(lambda r: "/api/releases" in r.url) as release:
            page.clock.run_for(61_000)
        assert release.value.post_data_json == {"item_ids": ["r02", "r03"]}
        page.wait_for_load_state("networkidle")
        store = SQLiteStore(server.store)
        try:  # r01, which B shows, is still held for its user
            assert "r01" not in [i.key for i in store.next_items("bob", count=6)]
        finally:
            store.close()
    finally:
        tab_b.close()


def test_opened_warning_details_stay_open_through_new_figures(serve, page, tmp_path):
    from assisted_labeling.retrain import METRICS
    from assisted_labeling.store.sqlite import SQLiteStore

    server = serve(rows(3), "--id-column", "id")
    SQLiteStore(server.store).set_meta(METRICS, json.dumps(STALLED))
    page.clock.install()
    open_app(page, server.url)
    details = page.locator(".al-warnings details")
    details.locator("summary").click()
    expect(details).to_have_attribute("open", "")
    newer = [*STALLED, {**STALLED[-1], "contradictions": 0.001, "auc": 0.9041}]
    SQLiteStore(server.store).set_meta(METRICS, json.dumps(newer))
    with page.expect_response(lambda r: "/api/config" in r.url):
        page.clock.run_for(61_000)
    expect(details).to_contain_text("0.1%")
    expect(details).to_have_attribute("open", "")
