"""Every plugin descriptor in the repository is valid for DSS.

Fields and parameter types follow https://doc.dataiku.com/dss/latest/plugins/reference/
(plugins-components.html, params.html). Components added later are picked up by the glob.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMPONENTS = {
    "custom-recipes/*/recipe.json": "recipe",
    "python-triggers/*/trigger.json": "trigger",
    "python-steps/*/step.json": "step",
    "webapps/*/webapp.json": "webapp",
}
CODE_FILES = {"recipe": "recipe.py", "trigger": "trigger.py", "step": "step.py"}

# The documented parameter types (params.html: basic, complex and DSS object types).
PARAM_TYPES = {
    "BOOLEAN", "DATE", "DOUBLE", "DOUBLES", "INT", "PASSWORD", "STRING", "STRINGS",
    "TEXTAREA", "ARRAY", "KEY_VALUE_LIST", "MAP", "MULTISELECT", "OBJECT_LIST", "SELECT",
    "API_SERVICE", "API_SERVICE_VERSION", "BUNDLE", "CLUSTER", "CODE_ENV", "COLUMN",
    "COLUMNS", "CONNECTION", "CONNECTIONS", "DATASET", "DATASET_COLUMN", "DATASET_COLUMNS",
    "DATASETS", "MANAGED_FOLDER", "FOLDER", "MODEL", "SAVED_MODEL", "PRESET", "PROJECT",
    "SCENARIO", "SEPARATOR", "CREDENTIAL_REQUEST",
}
ROLE_FLAGS = ("acceptsDataset", "acceptsManagedFolder", "acceptsSavedModel",
              "acceptsModelEvaluationStore", "acceptsStreamingEndpoint")
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MODEL_REF = re.compile(r"\bmodel\.([A-Za-z_][A-Za-z0-9_]*)")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    duplicated = sorted({k for k in keys if keys.count(k) > 1})
    if duplicated:
        raise ValueError(f"duplicate keys {duplicated}")
    return dict(pairs)


def load(path: Path) -> Any:
    """Strict JSON: no comments (json refuses them), no duplicate keys."""
    return json.loads(path.read_text("utf-8"), object_pairs_hook=_no_duplicates)


def _default_problem(param: dict[str, Any]) -> str | None:
    kind, value = param["type"], param["defaultValue"]
    choices = [c.get("value") for c in param.get("selectChoices") or []
               if isinstance(c, dict)]
    checks = {
        "BOOLEAN": isinstance(value, bool),
        "INT": isinstance(value, int) and not isinstance(value, bool),
        "DOUBLE": isinstance(value, (int, float)) and not isinstance(value, bool),
        "STRING": isinstance(value, str), "TEXTAREA": isinstance(value, str),
        "PASSWORD": isinstance(value, str),
        "STRINGS": isinstance(value, list) and all(isinstance(v, str) for v in value),
        "SELECT": value in choices,
        "MULTISELECT": isinstance(value, list) and all(v in choices for v in value),
        "MAP": isinstance(value, dict),
        "KEY_VALUE_LIST": isinstance(value, list),
    }
    ok = checks.get(kind, True)
    return None if ok else f"defaultValue {value!r} does not fit type {kind}"


def param_problems(params: Any, *, input_roles: set[str] | None = None) -> list[str]:
    """What DSS would refuse or misread in a ``params`` list (empty when fine)."""
    if not isinstance(params, list):
        return ["params must be a list"]
    problems: list[str] = []
    by_name: dict[str, dict[str, Any]] = {}
    for i, param in enumerate(params):
        where = f"params[{i}]"
        if not isinstance(param, dict):
            problems.append(f"{where} is not an object")
            continue
        kind, name = param.get("type"), param.get("name")
        where = f"params[{i}] ({name or kind})"
        if kind not in PARAM_TYPES:
            problems.append(f"{where}: unknown type {kind!r}")
            continue
        if not isinstance(param.get("label"), str) or not param["label"].strip():
            problems.append(f"{where}: a label is required")
        if kind != "SEPARATOR":
            if not isinstance(name, str) or not IDENTIFIER.match(name):
                problems.append(f"{where}: the name must be a Python/JavaScript identifier")
            elif name in by_name:
                problems.append(f"{where}: the name {name!r} is used twice")
            else:
                by_name[name] = param
        if "mandatory" in param and not isinstance(param["mandatory"], bool):
            problems.append(f"{where}: mandatory must be true or false")
        if kind in ("SELECT", "MULTISELECT"):
            choices = param.get("selectChoices")
            if (not isinstance(choices, list) or not choices or not all(
                    isinstance(c, dict) and "value" in c and isinstance(c.get("label"), str)
                    for c in choices)):
                problems.append(f"{where}: selectChoices must list {{value, label}} objects")
            elif len({json.dumps(c["value"]) for c in choices}) != len(choices):
                problems.append(f"{where}: selectChoices repeat a value")
        if "defaultValue" in param:
            problem = _default_problem(param)
            if problem:
                problems.append(f"{where}: {problem}")
    for name, param in by_name.items():
        kind = param["type"]
        if kind in ("DATASET_COLUMN", "DATASET_COLUMNS"):
            target = by_name.get(param.get("datasetParamName", ""))
            if target is None or target["type"] != "DATASET":
                problems.append(f"{name}: datasetParamName must name a DATASET parameter")
        if kind in ("COLUMN", "COLUMNS"):
            if input_roles is None:
                problems.append(f"{name}: {kind} parameters exist in recipes only")
            elif param.get("columnRole") not in input_roles:
                problems.append(f"{name}: columnRole must name an input role")
        condition = param.get("visibilityCondition")
        if condition is not None:
            if not isinstance(condition, str):
                problems.append(f"{name}: visibilityCondition must be a string")
            else:
                for ref in MODEL_REF.findall(condition):
                    if ref not in by_name:
                        problems.append(f"{name}: visibilityCondition uses unknown {ref!r}")
    return problems


def role_problems(roles: Any, side: str) -> list[str]:
    if not isinstance(roles, list):
        return [f"{side} must be a list"]
    problems, names = [], set()
    for i, role in enumerate(roles):
        where = f"{side}[{i}]"
        if not isinstance(role, dict):
            problems.append(f"{where} is not an object")
            continue
        name = role.get("name")
        if not isinstance(name, str) or not IDENTIFIER.match(name):
            problems.append(f"{where}: the name must be an identifier")
        elif name in names:
            problems.append(f"{where}: the name {name!r} is used twice")
        names.add(name)
        if not isinstance(role.get("label"), str):
            problems.append(f"{where}: a label is required")
        if role.get("arity", "UNARY") not in ("UNARY", "NARY"):
            problems.append(f"{where}: arity must be UNARY or NARY")
        for flag in ("required", *ROLE_FLAGS):
            if flag in role and not isinstance(role[flag], bool):
                problems.append(f"{where}: {flag} must be true or false")
        # acceptsDataset defaults to true: a role must accept something.
        if not any(role.get(flag, flag == "acceptsDataset") for flag in ROLE_FLAGS):
            problems.append(f"{where}: the role accepts nothing")
    return problems


def component_problems(kind: str, descriptor: Any, folder: Path) -> list[str]:
    if not isinstance(descriptor, dict):
        return ["the descriptor must be a JSON object"]
    problems = []
    meta = descriptor.get("meta")
    if not isinstance(meta, dict) or not isinstance(meta.get("label"), str) \
            or not meta["label"].strip():
        problems.append("meta.label is required")
    input_roles: set[str] | None = None
    if kind == "recipe":
        if descriptor.get("kind") != "PYTHON":
            problems.append('a Python recipe needs "kind": "PYTHON"')
        problems += role_problems(descriptor.get("inputRoles", []), "inputRoles")
        problems += role_problems(descriptor.get("outputRoles", []), "outputRoles")
        input_roles = {r.get("name") for r in descriptor.get("inputRoles", [])
                       if isinstance(r, dict)}
        for key in ("selectableFromDataset", "selectableFromFolder",
                    "selectableFromSavedModel"):
            if key in descriptor and descriptor[key] not in input_roles:
                problems.append(f"{key} must name an input role")
    if kind == "webapp":
        if descriptor.get("baseType") != "STANDARD":
            problems.append('a standard webapp needs "baseType": "STANDARD"')
        for key in ("hasBackend", "noJSSecurity", "enableJavascriptModules"):
            if key in descriptor and descriptor[key] not in ("true", "false", True, False):
                problems.append(f"{key} must be true or false")
        libraries = descriptor.get("standardWebAppLibraries", [])
        if not isinstance(libraries, list) or not all(isinstance(x, str) for x in libraries):
            problems.append("standardWebAppLibraries must be a list of names")
        if descriptor.get("hasBackend") in ("true", True) and not (folder / "backend.py").is_file():
            problems.append("hasBackend is true but backend.py is missing")
    if kind in CODE_FILES and not (folder / CODE_FILES[kind]).is_file():
        problems.append(f"{CODE_FILES[kind]} is missing next to the descriptor")
    problems += param_problems(descriptor.get("params", []), input_roles=input_roles)
    return problems


def _descriptors() -> list[Any]:
    found = []
    for pattern, kind in COMPONENTS.items():
        for path in sorted(ROOT.glob(pattern)):
            found.append(pytest.param(kind, path, id=str(path.relative_to(ROOT))))
    return found


def test_plugin_json():
    plugin = load(ROOT / "plugin.json")
    assert plugin["id"] == "ml-assisted-labeling"
    assert re.match(r"^\d+\.\d+\.\d+$", plugin["version"])
    assert isinstance(plugin["meta"]["label"], str) and plugin["meta"]["label"]
    assert param_problems(plugin.get("params", [])) == []


def test_the_webapp_is_found():
    # The glob works: the tabular webapp (4.x id) is among the descriptors checked.
    ids = [p.id for p in _descriptors()]
    assert "webapps/tabular-labeling/webapp.json" in ids


@pytest.mark.parametrize("kind, path", _descriptors())
def test_component_descriptor(kind: str, path: Path):
    assert component_problems(kind, load(path), path.parent) == []


def test_tabular_webapp_keeps_the_4x_parameters():
    params = {p["name"]: p for p in load(ROOT / "webapps/tabular-labeling/webapp.json")["params"]}
    assert params["unlabeled"]["type"] == "DATASET"
    assert params["categories"]["type"] == "KEY_VALUE_LIST"
    assert params["labels_ds"]["type"] == params["metadata_ds"]["type"] == "DATASET"
    assert params["queries_ds"]["type"] == "DATASET"
    assert params["label_col_name"]["defaultValue"] == "label"


# -- the checker itself catches mistakes -------------------------------------------------
def test_checker_rejects_comments_and_duplicate_keys(tmp_path):
    commented = tmp_path / "a.json"
    commented.write_text('{\n  // a comment\n  "meta": {}\n}')
    with pytest.raises(json.JSONDecodeError):
        load(commented)
    duplicated = tmp_path / "b.json"
    duplicated.write_text('{"meta": {}, "meta": {}}')
    with pytest.raises(ValueError, match="duplicate keys"):
        load(duplicated)


@pytest.mark.parametrize("params, words", [
    ([{"name": "a", "label": "A", "type": "NUMBER"}], "unknown type"),
    ([{"name": "a", "type": "STRING"}], "a label is required"),
    ([{"name": "a-b", "label": "A", "type": "STRING"}], "identifier"),
    ([{"name": "a", "label": "A", "type": "INT"}] * 2, "used twice"),
    ([{"name": "a", "label": "A", "type": "SELECT"}], "selectChoices"),
    ([{"name": "a", "label": "A", "type": "INT", "defaultValue": "1"}], "does not fit"),
    ([{"name": "c", "label": "C", "type": "DATASET_COLUMN", "datasetParamName": "ds"}],
     "datasetParamName"),
    ([{"name": "c", "label": "C", "type": "COLUMN", "columnRole": "x"}], "recipes only"),
    ([{"name": "a", "label": "A", "type": "STRING", "visibilityCondition": "model.b"}],
     "unknown 'b'"),
    ([{"name": "a", "label": "A", "type": "BOOLEAN", "mandatory": "true"}], "mandatory"),
])
def test_checker_finds_bad_params(params, words):
    problems = param_problems(params)
    assert any(words in p for p in problems), problems


def test_checker_accepts_column_roles_and_finds_bad_roles():
    params = [{"name": "c", "label": "C", "type": "COLUMNS", "columnRole": "input"}]
    assert param_problems(params, input_roles={"input"}) == []
    assert role_problems([{"name": "m", "label": "M", "arity": "ONE",
                           "acceptsDataset": False}], "inputRoles") == [
        "inputRoles[0]: arity must be UNARY or NARY", "inputRoles[0]: the role accepts nothing"]
