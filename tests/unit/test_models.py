"""Default pipelines, skops files, and refusal of untrusted model files."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from assisted_labeling import models
from assisted_labeling.errors import ConfigError, ValidationError


def tabular(n: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    x = rng.random(n)
    return pd.DataFrame({"x": x, "colour": ["red", "blue", "red"] * (n // 3),
                         "label": np.where(x > 0.5, "hi", "lo")})


@pytest.mark.parametrize("kind", ["linear", "gbdt"])
def test_tabular_model_round_trips_through_skops(tmp_path, kind):
    frame = tabular()
    trained = models.train(frame, label_column="label", model=kind)
    assert trained.feature_columns == ["x", "colour"]
    models.save(trained, tmp_path / "m.skops")
    loaded = models.load(tmp_path / "m.skops")
    assert loaded.classes == ["hi", "lo"]
    assert np.allclose(loaded.predict_proba(frame), trained.predict_proba(frame))
    assert (loaded.pipeline.predict(loaded.inputs(frame)) == frame["label"]).mean() > 0.9


def test_text_model():
    frame = pd.DataFrame({"text": ["great stuff", "awful thing", "great thing", "awful stuff"],
                          "label": ["pos", "neg", "pos", "neg"]})
    trained = models.train(frame, label_column="label", text_column="text")
    proba = trained.predict_proba(pd.DataFrame({"text": ["great", None]}))
    assert proba.shape == (2, 2) and proba[0, trained.classes.index("pos")] > 0.5


def test_models_remember_how_many_labels_they_learned_from(tmp_path):
    frame = tabular()
    frame.loc[40:, "label"] = None
    trained = models.train(frame, label_column="label")
    assert trained.n_labels == 40
    models.save(trained, tmp_path / "m.skops")
    assert models.load(tmp_path / "m.skops").n_labels == 40


def test_embed_describes_rows_by_the_encoded_inputs():
    frame = tabular()
    trained = models.train(frame, label_column="label")
    embedded = trained.embed(frame)
    assert embedded.shape == (60, 3)  # scaled x + one-hot colour
    words = [f"w{i}" for i in range(300)]
    rng = np.random.default_rng(0)
    docs = [" ".join(rng.choice(words, 8)) for _ in range(80)]
    text = pd.DataFrame({"text": docs, "label": ["p", "q"] * 40})
    model = models.train(text, label_column="label", text_column="text")
    vectors = model.embed(text)
    # A wide TF-IDF is projected to a fixed width; rows keep unit length, and the same
    # rows always get the same vectors.
    assert vectors.shape == (80, models.EMBEDDING_DIMS)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0)
    assert np.allclose(model.embed(text.iloc[:5]), vectors[:5])
    # Close documents stay closer than unrelated ones.
    twin = pd.DataFrame({"text": [docs[0], docs[0] + " w1", docs[1]]})
    a, b, c = model.embed(twin)
    assert np.linalg.norm(a - b) < np.linalg.norm(a - c)


def test_unlabeled_rows_are_ignored_and_two_classes_needed():
    frame = tabular()
    frame.loc[5:, "label"] = None
    with pytest.raises(ValidationError, match="at least 2 classes"):
        models.train(frame.iloc[:3].assign(label="hi"), label_column="label")
    with pytest.raises(ConfigError, match='No label column "lbl"'):
        models.train(frame, label_column="lbl")
    with pytest.raises(ConfigError, match="not both"):
        models.train(frame, label_column="label", text_column="x", feature_columns=["x"])


def test_missing_model_columns_are_named():
    trained = models.train(tabular(), label_column="label")
    with pytest.raises(ValidationError, match="colour"):
        trained.predict_proba(pd.DataFrame({"x": [0.1]}))


def test_a_pickle_is_refused(tmp_path):
    path = tmp_path / "evil.skops"
    path.write_bytes(pickle.dumps({"pipeline": None}))
    with pytest.raises(ConfigError, match="not a model file"):
        models.load(path)
    with pytest.raises(ConfigError, match="does not exist"):
        models.load(tmp_path / "none.skops")


def test_a_labels_export_trains_a_model_that_scores_the_pool():
    # The labels export: the item's columns (id included), the label and its id, and
    # the queries' columns when the items came from a queries file.
    export = pd.DataFrame({
        "review_id": [11, 12, 13, 14, 15, 16], "rating": [5, 1, 4, 2, 5, 1],
        "shop": ["a", "b", "a", "b", "a", "a"], "uncertainty": [0.9, 0.8, 0.7, 0.6, 0.5, 0.4],
        "session": [1, 1, 1, 2, 2, 2], "sentiment": ["pos", "neg", "pos", "neg", "pos", "neg"],
        "sentiment_id": [1, 2, 3, 4, 5, 6]})
    trained = models.train(export, label_column="sentiment")
    assert trained.feature_columns == ["rating", "shop"]
    assert trained.left_out == ["review_id", "uncertainty", "session", "sentiment_id"]
    pool = pd.DataFrame({"review_id": [21, 22], "rating": [5, 1], "shop": ["a", "c"]})
    proba = trained.predict_proba(pool)
    assert proba.shape == (2, 2) and proba[0, trained.classes.index("pos")] > 0.5


def test_metadata_and_id_columns_are_not_default_features():
    frame = pd.DataFrame({
        "date": ["2024-01-01"] * 4, "data_id": ["1", "2", "3", "4"], "comment": [""] * 4,
        "status": ["LABELED"] * 4, "annotator": ["ann", "bob", "ann", "bob"],
        "__item_id": ["1", "2", "3", "4"], "key": ["k1", "k2", "k3", "k4"],
        "shop_id": [1, 1, 2, 2], "x": [0.1, 0.9, 0.2, 0.8], "label": ["lo", "hi"] * 2})
    # shop_id repeats, so it describes the item; "key" is an id only when named so.
    assert models.choose_features(frame, label_column="label") == ["key", "shop_id", "x"]
    assert models.choose_features(frame, label_column="label", id_column="key") == [
        "shop_id", "x"]
    with pytest.raises(ConfigError, match="No feature columns"):
        models.train(frame[["date", "data_id", "label"]], label_column="label")


def test_bookkeeping_columns_cover_the_tables_that_write_them():
    from assisted_labeling import sampler
    from assisted_labeling.project import metadata_row
    from assisted_labeling.queries import ITEM_ID
    from assisted_labeling.store import Annotation, Status

    annotation = Annotation(id=1, item_key="1", annotator="ann", status=Status.LABELED,
                            label="hi", label_id=1, comment="", session=1, created_at=0.0,
                            updated_at=0.0)
    written = set(metadata_row(annotation, "label")) - {"label", "label_id"}
    # Every column the sampler adds to a queries file (uncertainty, session…).
    written |= {v for k, v in vars(sampler).items() if k.endswith("_COLUMN")}
    assert written | {ITEM_ID} <= set(models.BOOKKEEPING_COLUMNS)


def test_a_model_trained_on_a_real_labels_export_round_trips_and_scores_the_pool(tmp_path):
    from assisted_labeling.export import export_rows
    from assisted_labeling.standalone import open_project
    from assisted_labeling.web.auth import LOCAL_USER

    pool = pd.DataFrame({"id": range(30), "x": np.linspace(0, 1, 30),
                         "colour": ["red", "blue", "green"] * 10})
    pool.to_csv(tmp_path / "pool.csv", index=False)
    project = open_project(tmp_path / "pool.csv", tmp_path / "l.db",
                           {"categories": "hi,lo", "id_column": "id"}, progress=False)
    for i in range(12):
        project.annotate(LOCAL_USER, {"item_id": str(i), "label": "hi" if i % 2 else "lo"})
    export_rows(project.label_rows(), tmp_path / "labels.csv")
    trained = models.train(pd.read_csv(tmp_path / "labels.csv"), label_column="label")
    assert trained.feature_columns == ["x", "colour"]
    assert trained.left_out == ["id", "label_id"]
    models.save(trained, tmp_path / "m.skops")
    assert models.load(tmp_path / "m.skops").predict_proba(pool).shape == (30, 2)


# -- what train writes and refuses ------------------------------------------------------
def test_dates_are_seconds_since_1970_whatever_their_time_zone():
    when = pd.Series([pd.Timestamp("1970-01-01 00:01"), pd.Timestamp("2024-01-01"), pd.NaT])
    frame = pd.DataFrame({"when": when, "label": ["a", "b", "a"]})
    trained = models.train(frame, label_column="label")
    assert trained.inputs(frame)["when"].tolist()[:2] == [60.0, 1704067200.0]
    paris = frame.assign(when=when.dt.tz_localize("UTC").dt.tz_convert("Europe/Paris"))
    text = frame.assign(when=["1970-01-01T01:01:00+01:00", "2024-01-01", ""])
    for same in (paris, text):
        assert trained.inputs(same)["when"].tolist()[:2] == [60.0, 1704067200.0]
        assert np.isnan(trained.inputs(same)["when"].tolist()[2])


def test_a_failed_save_keeps_the_previous_model(tmp_path, monkeypatch):
    import skops.io as sio

    path = tmp_path / "m.skops"
    models.save(models.train(tabular(), label_column="label"), path)
    before = path.read_bytes()

    def interrupted(obj, file, **kwargs):
        with open(file, "wb") as handle:
            handle.write(b"PK")
        raise KeyboardInterrupt

    monkeypatch.setattr(sio, "dump", interrupted)
    with pytest.raises(KeyboardInterrupt):
        models.save(models.train(tabular(90), label_column="label"), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.skops"]  # no partial file left


def test_a_private_model_is_never_readable_by_others_even_while_written(tmp_path,
                                                                        monkeypatch):
    import os
    import stat

    import skops.io as sio

    modes = []
    dump = sio.dump

    def watched(obj, file, **kwargs):  # the file as the model's bytes go in
        if os.path.exists(file):
            modes.append(stat.S_IMODE(os.stat(file).st_mode))
        return dump(obj, file, **kwargs)

    monkeypatch.setattr(sio, "dump", watched)
    old = os.umask(0o022)
    try:
        path = tmp_path / "m.skops"
        models.save(models.train(tabular(), label_column="label"), path, private=True)
        models.save(models.train(tabular(), label_column="label"), tmp_path / "open.skops")
    finally:
        os.umask(old)
    assert modes == [0o600] and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "open.skops").stat().st_mode) == 0o644  # train -o


def test_the_label_and_the_columns_query_adds_are_no_features():
    frame = tabular().assign(session=1, uncertainty=0.5)
    with pytest.raises(ConfigError, match='"label" is the label column'):
        models.training_columns(frame, label_column="label", feature_columns=["x", "label"])
    with pytest.raises(ConfigError, match='"label" is the label column'):
        models.training_columns(frame, label_column="label", text_column="label")
    for added in ("session", "uncertainty"):
        with pytest.raises(ConfigError, match=f'"{added}" is a column that `query` adds'):
            models.training_columns(frame, label_column="label",
                                    feature_columns=["x", added])


def test_type_errors_name_the_column():
    mixed = pd.DataFrame({"x": [0.1, 0.2, 0.3, 0.4], "size": [1, "M", 2, None],
                          "label": ["a", "b", "a", "b"]})
    with pytest.raises(ValidationError, match='column "size" mixes numbers and text') as err:
        models.train(mixed, label_column="label")
    assert err.value.details == {"column": "size"}
    nested = mixed.assign(size=[[1], {"k": 1}, [2], None])
    with pytest.raises(ValidationError, match='column "size" holds lists or mappings'):
        models.train(nested, label_column="label")
    trained = models.train(tabular(), label_column="label")
    stray = tabular().astype({"x": object})
    stray.loc[[3, 5], "x"] = ["oops", "n/a"]
    with pytest.raises(ValidationError, match=r'column "x" holds text where the model was '
                                              r"trained on numbers \(2 of the 60 rows "
                                              r"checked, such as 'oops'"):
        trained.predict_proba(stray)
    # Numbers written as text, and blanks, are numbers and missing values.
    as_text = tabular().astype({"x": str}).assign(colour=1)
    as_text.loc[2, "x"] = " "
    assert trained.predict_proba(as_text).shape == (60, 2)


def test_infinite_numbers_are_refused_by_column_in_training_and_scoring():
    trained = models.train(tabular(), label_column="label")
    pool = tabular()
    pool.loc[[4, 9], "x"] = [np.inf, -np.inf]
    with pytest.raises(ValidationError, match=r'column "x" holds infinite numbers \(2 of '
                                              r"the 60 rows checked, such as inf\)") as err:
        trained.predict_proba(pool)
    assert err.value.details == {"column": "x"}
    with pytest.raises(ValidationError, match='column "x" holds infinite numbers'):
        models.train(pool, label_column="label")
    as_text = tabular().astype({"x": str})
    as_text.loc[1, "x"] = "-inf"
    with pytest.raises(ValidationError, match=r'column "x" holds infinite numbers \(1 of'):
        trained.predict_proba(as_text)


def test_text_vocabulary_is_capped_and_the_file_compressed(tmp_path):
    import zipfile

    rng = np.random.default_rng(0)
    # Zipf-like words: most appear in one document only, as in real text.
    words = [f"w{i}" for i in rng.zipf(1.3, 30_000) % 200_000]
    docs = [" ".join(words[i:i + 20]) for i in range(0, 30_000, 20)]
    frame = pd.DataFrame({"text": docs, "label": ["a", "b"] * (len(docs) // 2)})
    trained = models.train(frame, label_column="label", text_column="text")
    vectorizer = trained.pipeline.named_steps["tfidf"]
    assert vectorizer.min_df == 2 and vectorizer.max_features == models.TEXT_MAX_FEATURES
    assert all(type(i) is int for i in vectorizer.vocabulary_.values())
    path = tmp_path / "m.skops"
    models.save(trained, path)
    with zipfile.ZipFile(path) as archive:
        # numpy ints as vocabulary values were stored one file each: 30 000 files.
        assert len(archive.infolist()) < 10
        assert {i.compress_type for i in archive.infolist()} == {zipfile.ZIP_DEFLATED}
    assert path.stat().st_size < 200_000
    few = models.train(frame.iloc[:40], label_column="label", text_column="text")
    assert few.pipeline.named_steps["tfidf"].min_df == 1  # every word counts


def test_text_without_words_is_a_clear_error():
    frame = pd.DataFrame({"text": ["", None, " ", "?"], "label": ["a", "b", "a", "b"]})
    with pytest.raises(ValidationError, match='the text column "text" holds no words'):
        models.train(frame, label_column="label", text_column="text")


def test_a_directory_is_no_model_file(tmp_path):
    with pytest.raises(ConfigError, match=r'"[^"]+" is a directory: give the model file'):
        models.load(tmp_path)


REVIEWS = [f"the {w} parcel {i} came {d} and the box was {s}" for i, (w, d, s) in enumerate(zip(
    ["red", "blue", "green", "small", "large", "old"] * 2,
    ["late", "early", "today", "monday", "friday", "sunday"] * 2,
    ["fine", "great", "good", "broken", "awful", "bad"] * 2))]


def test_free_text_is_told_from_categories_numbers_and_codes():
    assert models.free_text_words(pd.Series(REVIEWS)) == 11.0
    assert models.free_text_words(pd.Series(["New York", "Paris", "Rio de Janeiro"] * 4)) \
        is None  # few words, and values repeat
    assert models.free_text_words(pd.Series(["A12", "B7", "C3", "D9"])) is None
    assert models.free_text_words(pd.Series(["the same three words"] * 6)) is None
    assert models.free_text_words(pd.Series([0.5, 1.5, 2.5])) is None
    assert models.free_text_words(pd.Series([None, None])) is None
    # Numbers among the text: a mixed column, refused as such, not left out as text.
    assert models.free_text_words(pd.Series([*REVIEWS[:5], 3.5])) is None
    # Long documents: their words are counted on their start, without lists of words.
    long = pd.Series([f"document {i} " + "word " * 50_000 for i in range(20)])
    assert models.free_text_words(long) >= models.FREE_TEXT_WORDS


def test_a_table_whose_features_are_free_text_is_read_as_text():
    """One-hot encoding of values that never repeat learns nothing: the model would give
    every row the same probabilities, and uncertainty would rank nothing."""
    frame = pd.DataFrame({"review_id": range(12), "review": REVIEWS,
                          "label": ["pos", "pos", "pos", "neg", "neg", "neg"] * 2})
    trained = models.train(frame, label_column="label")
    assert trained.text_column == "review" and trained.feature_columns == []
    proba = trained.predict_proba(frame)[:, trained.classes.index("pos")]
    assert proba[:3].min() > proba[3:6].max()


def test_free_text_beside_other_columns_is_left_out_and_named(caplog):
    frame = pd.DataFrame({"review": REVIEWS, "stars": [5, 4, 5, 1, 2, 1] * 2,
                          "label": ["pos", "pos", "pos", "neg", "neg", "neg"] * 2})
    trained = models.train(frame, label_column="label")
    assert trained.text_column is None and trained.feature_columns == ["stars"]
    assert trained.free_text_left_out == ["review"] and "review" in trained.left_out
    assert '"review" holds free text' in caplog.text and "--text-column" in caplog.text
    # Columns given are taken as given.
    assert models.train(frame, label_column="label",
                        feature_columns=["review", "stars"]).feature_columns == [
        "review", "stars"]


@pytest.mark.parametrize("blank", [np.nan, "", "  "])
def test_a_feature_column_empty_in_every_labeled_row_is_left_out_without_sklearn_noise(
        blank):
    import warnings

    frame = tabular().assign(empty=blank)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # scikit-learn's "Skipping features…" is noise
        trained = models.train(frame, label_column="label",
                               feature_columns=["x", "empty"])
    assert trained.feature_columns == ["x"]
    assert trained.left_out == ["colour", "empty"] and trained.empty_left_out == ["empty"]
    assert trained.predict_proba(frame.drop(columns="empty")).shape == (60, 2)


def test_feature_columns_all_empty_are_a_clear_error():
    frame = tabular().assign(a=np.nan, b="")
    with pytest.raises(ValidationError) as caught:
        models.train(frame, label_column="label", feature_columns=["a", "b"])
    assert caught.value.message == (
        'the feature columns "a", "b" hold no value in the 60 labeled rows: there is '
        "nothing to learn from. Choose columns that hold values (feature columns or a "
        "text column)")
    # Default features too: every column but the label is empty.
    with pytest.raises(ValidationError, match="nothing to learn from"):
        models.train(frame[["label", "a", "b"]], label_column="label")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_codes_read_as_floats_are_the_categories_the_model_learned(dtype):
    """A CSV column of codes with an empty cell is read as floats: 1.0 is the code "1"."""
    rng = np.random.default_rng(0)
    codes = rng.choice(["A", "1", "2"], 60)
    frame = pd.DataFrame({"code": codes, "label": np.where(codes == "2", "y", "x")})
    trained = models.train(frame, label_column="label", feature_columns=["code"])
    assert trained.column_types == {"code": models.CATEGORY}
    as_text = trained.predict_proba(pd.DataFrame({"code": ["1", "2", None]}))
    as_floats = trained.predict_proba(
        pd.DataFrame({"code": np.array([1.0, 2.0, np.nan], dtype=dtype)}))
    assert np.allclose(as_floats, as_text)
    assert not np.allclose(as_floats[0], as_floats[1])


@pytest.mark.parametrize("written, days", [
    (["02/01/2020", "12/01/2020", "13/01/2020"], [2, 12, 13]),  # day first
    (["01/02/2020", "01/12/2020", "01/13/2020"], [2, 12, 13]),  # month first
    (["2020-01-02", "2020-01-12T00:00:00", "2020-01-13 00:00"], [2, 12, 13]),
])
def test_dates_written_as_text_are_read_with_one_format_per_column(written, days):
    when = pd.to_datetime(["2020-01-01", "2020-01-20", "2020-02-10", "2020-03-01"] * 5,
                          utc=True)
    frame = pd.DataFrame({"when": when, "label": ["a", "a", "b", "b"] * 5})
    trained = models.train(frame, label_column="label", feature_columns=["when"])
    seconds = trained.inputs(pd.DataFrame({"when": written}))["when"]
    expected = pd.to_datetime([f"2020-01-{d:02d}" for d in days], utc=True)
    assert list(seconds) == list((expected - pd.Timestamp(0, tz="UTC")).total_seconds())
    # The next chunk of the same pool is read as the first was, even where the day
    # could be the month (the day-first case: alone, "02/01/2020" is read month first).
    later = trained.inputs(pd.DataFrame({"when": [written[0]]}))["when"]
    assert later.iloc[0] == seconds.iloc[0]


def test_dates_as_text_are_read_without_warnings_and_offsets_stay_their_own(recwarn):
    """The retraining reads the store's ISO text as dates (known types); a time without
    offset is in UTC even after one with an offset (pandas' one format would give it
    that offset)."""
    iso = pd.Series(["2020-01-01T00:00:00+02:00", "2020-03-04 10:00", None] * 4)
    frame = pd.DataFrame({"when": iso, "label": ["a", "b", "a"] * 4})
    trained = models.train(frame, label_column="label", feature_columns=["when"],
                           known_types={"when": models.DATETIME})
    seconds = trained.inputs(frame)["when"]
    expected = pd.to_datetime(["2019-12-31 22:00", "2020-03-04 10:00"], utc=True)
    assert list(seconds[:2]) == list((expected - pd.Timestamp(0, tz="UTC")).total_seconds())
    assert not [w for w in recwarn if "dayfirst" in str(w.message)
                or "infer format" in str(w.message)]


def test_texts_that_share_no_word_are_told_so():
    frame = pd.DataFrame({"text": [f"w{i}a w{i}b" for i in range(models.TEXT_MIN_DF_FROM)],
                          "label": ["a", "b"] * (models.TEXT_MIN_DF_FROM // 2)})
    with pytest.raises(ValidationError, match="is in more than one of the 1000 labeled "
                                              "texts: there is nothing they share"):
        models.train(frame, label_column="label", text_column="text")


def test_spaces_around_labels_are_no_classes_of_their_own(caplog):
    frame = tabular().assign(label=lambda f: np.where(f["x"] > 0.5, "hi", "lo"))
    frame.loc[:4, "label"] = frame.loc[:4, "label"] + " "  # "hi " typed in a table
    frame.loc[5:7, "label"] = "  "  # a blank cell: no label
    with caplog.at_level("WARNING", logger="assisted_labeling.models"):
        trained = models.train(frame, label_column="label")
    assert trained.classes == ["hi", "lo"] and trained.n_labels == 57
    assert "5 label(s) of \"label\" had spaces around them" in caplog.text


def test_categories_learned_as_decimal_text_stay_so_when_read_as_floats():
    """A column of versions "1.0", "2.0", "beta": a pool chunk without "beta" is read
    as floats, and 2.0 must be the "2.0" the model learned, not "2"."""
    rng = np.random.default_rng(0)
    versions = rng.choice(["1.0", "2.0", "beta"], 60)
    frame = pd.DataFrame({"version": versions,
                          "label": np.where(versions == "2.0", "y", "x")})
    trained = models.train(frame, label_column="label", feature_columns=["version"])
    as_text = trained.predict_proba(pd.DataFrame({"version": ["1.0", "2.0"]}))
    as_floats = trained.predict_proba(pd.DataFrame({"version": [1.0, 2.0]}))
    assert np.allclose(as_floats, as_text)
    assert not np.allclose(as_floats[0], as_floats[1])


@pytest.mark.parametrize("trained_on", ["nan", "none"])
def test_a_missing_category_is_one_value_however_the_file_gives_it(trained_on):
    """A CSV gives a missing cell as NaN, Parquet as None: both are the missing value,
    in training and in scoring, not an unknown category in one of them."""
    rng = np.random.default_rng(0)
    city = rng.choice(["A", "B", "missing cell"], 90)
    x = rng.random(90)
    label = np.where(city == "missing cell", "z", np.where(x > 0.5, "hi", "lo"))

    def given(missing):
        return pd.DataFrame({"x": x, "city": [missing if c == "missing cell" else c
                                              for c in city], "label": label})

    trained = models.train(given(np.nan if trained_on == "nan" else None),
                           label_column="label", feature_columns=["x", "city"])
    from_csv = trained.predict_proba(given(np.nan))
    from_parquet = trained.predict_proba(given(None))
    assert np.allclose(from_csv, from_parquet)
    # The missing value was learned: rows without a city are "z".
    z = trained.classes.index("z")
    assert (from_parquet[city == "missing cell", z] > 0.5).all()


def plan_model(rng: np.random.Generator) -> tuple[pd.DataFrame, models.TrainedModel]:
    """60 rows whose category column "plan" (free/pro/ent) tells the label, and a model
    trained on them."""
    plan = rng.choice(["free", "pro", "ent"], 60)
    frame = pd.DataFrame({"x": rng.random(60), "plan": plan,
                          "label": np.where(plan == "pro", "y", "n")})
    return frame, models.train(frame, label_column="label", feature_columns=["x", "plan"])


def test_a_category_column_of_values_never_learned_is_warned_once(caplog):
    """"plan" learned as free/pro/ent arrives as 0/1/2 (another encoding of the column):
    every value is unknown to the model, which then ignores the column without a word."""
    rng = np.random.default_rng(0)
    frame, trained = plan_model(rng)
    with caplog.at_level("WARNING"):
        trained.predict_proba(frame.assign(plan=rng.choice(["free", "pro", "new"], 60)))
    assert caplog.text == ""  # a few new values are fine
    coded = frame.assign(plan=rng.integers(0, 3, 60))
    with caplog.at_level("WARNING"):
        trained.predict_proba(coded)
        trained.predict_proba(coded)
    assert caplog.text.count('column "plan"') == 1
    assert "none of the 60 values" in caplog.text and "free" in caplog.text


def test_a_category_column_written_in_another_case_is_warned_of(caplog):
    """"free"/"pro" learned, "FREE"/" Pro" read: the same names, which the model does not
    know as written."""
    frame, trained = plan_model(np.random.default_rng(0))
    with caplog.at_level("WARNING"):
        trained.predict_proba(frame.assign(plan=[f" {p.title()}" for p in frame["plan"]]))
    assert caplog.text.count('column "plan"') == 1
    assert "only in case or spaces" in caplog.text


def test_new_values_of_a_column_of_many_values_are_not_warned_of(caplog):
    """A chunk of cities none of which was labeled yet is no other encoding."""
    rng = np.random.default_rng(0)
    cities = [f"city {i}" for i in range(60)]
    frame = pd.DataFrame({"x": rng.random(60), "city": cities,
                          "label": np.where(rng.random(60) > 0.5, "y", "n")})
    trained = models.train(frame, label_column="label", feature_columns=["x", "city"])
    with caplog.at_level("WARNING"):
        trained.predict_proba(frame.assign(city=[f"town {i}" for i in range(60)]))
    assert caplog.text == ""


def test_a_model_that_learned_none_as_a_category_keeps_scoring_missing_values_so():
    """Earlier versions fed Parquet's None to the encoder, which learned it as a value:
    those model files keep reading a missing category as it, whatever the file gives."""
    rng = np.random.default_rng(0)
    city = rng.choice(["A", "B", None], 90)
    x = rng.random(90)
    frame = pd.DataFrame({"x": x, "city": city,
                          "label": np.where(pd.isna(city), "z", np.where(x > 0.5, "h", "l"))})
    trained = models.train(frame, label_column="label", feature_columns=["x", "city"])
    trained.pipeline.fit(frame[["x", "city"]], frame["label"])  # as before: None learned
    trained._categories = None
    expected = trained.pipeline.predict_proba(frame[["x", "city"]])
    as_nan = frame.assign(city=frame["city"].where(frame["city"].notna(), np.nan))
    assert np.allclose(trained.predict_proba(frame), expected)
    assert np.allclose(trained.predict_proba(as_nan), expected)
