"""Load and validate cvpbench files; write outputs without leaving partial files behind.

Two inputs are understood:
  * a cvpbench summary (`summary.json`, the contract; validated against the JSON Schema in
    benchmarks/schema/ with jsonschema when it is importable, else with a small built-in
    validator over the same schema file);
  * raw Google Benchmark JSON (`benchmark.json`), checked for the fields cvp reads.
A folder stands for the summary.json inside it (or benchmark.json when there is no summary).

Every problem is raised as CvpError with a one-line message that starts with the file name.
"""

import json
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from . import CvpError
from .text import visible

try:
    import jsonschema
except ImportError:  # optional: the built-in validator covers the schema's keywords
    jsonschema = None

SUPPORTED_SCHEMA_VERSIONS = (1,)
MAX_BYTES = 64 * 1024 * 1024
MAX_DEPTH = 64
SUMMARY_FILE = "summary.json"
GBENCH_FILE = "benchmark.json"

SUMMARY = "summary"
GBENCH = "gbench"

_HERE = Path(__file__).resolve()
# The schema in the source tree (scripts/cvptools/ -> benchmarks/schema/), else where
# `cmake --install` puts it: beside the installed package (share/cvpbench/).
_SCHEMA_IN_TREE = _HERE.parents[2] / "benchmarks" / "schema" / "summary.schema.json"
_SCHEMA_INSTALLED = _HERE.parents[1] / "summary.schema.json"
_SCHEMA_PATH = _SCHEMA_INSTALLED if not _SCHEMA_IN_TREE.exists() and _SCHEMA_INSTALLED.exists() \
    else _SCHEMA_IN_TREE

# Used only when the repository's schema file cannot be found (scripts/ copied elsewhere):
# the required core of the contract, as listed in DESIGN.md, and the types of the optional
# fields the tools read (the workloads' kinds, units and bounds).
KINDS = ("cpu", "io", "memory")
_WORK_UNIT = {"type": "object", "required": ["unit", "per_execution"],
              "properties": {"unit": {"type": "string", "minLength": 1},
                             "per_execution": {"type": "number", "minimum": 0}}}
_WORKLOAD = {
    "type": "object", "required": ["name", "kind", "unit"],
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "kind": {"enum": list(KINDS)},
        "unit": {"type": "object", "required": ["work", "rate", "rate_scale"],
                 "properties": {"work": {"type": "string", "minLength": 1},
                                "rate": {"type": "string", "minLength": 1},
                                "rate_scale": {"type": "number", "exclusiveMinimum": 0}}},
        "description": {"type": "string"},
        "bound_model": {"type": "string"},
        "timing": {"enum": ["real", "manual"]},
    }}
_FALLBACK_SCHEMA = {
    "type": "object",
    "required": ["schema_version", "tool", "machine", "config", "results"],
    "properties": {
        "workloads": {"type": "array", "items": _WORKLOAD},
        "tool": {"type": "object", "required": ["name", "version", "git_commit"]},
        "machine": {"type": "object", "required": [
            "cpu_model", "logical_cpus", "physical_cores", "allowed_cpus", "smt", "caches",
            "governor", "compiler", "flags", "libraries", "os", "host", "date"]},
        "config": {"type": "object", "required": ["quick", "repetitions"]},
        "results": {"type": "array", "items": {
            "type": "object",
            "required": ["workload", "kind", "params", "mode", "backend", "threads", "in_flight",
                         "cores", "wall_s", "cpu_s", "cpu_per_wall", "throughput", "speedup",
                         "efficiency", "bound", "karp_flatt", "evidence"],
            "properties": {
                "kind": {"enum": list(KINDS)},
                "group": {"type": "string", "minLength": 1},
                "headline": {"type": "boolean"},
                "work": _WORK_UNIT,
                "bound_model": {"type": "string"},
                "values": {"type": "object", "additionalProperties": {"type": "number"}},
                "mode": {"enum": ["serial", "concurrent", "parallel", "distributed"]},
                "threads": {"type": "integer", "minimum": 1},
                "in_flight": {"type": "integer", "minimum": 1},
                "cores": {"type": "integer", "minimum": 1},
                "params": {"type": "object"},
                "wall_s": {"type": "object", "required": ["median", "ci95", "samples"],
                           "properties": {"median": {"type": "number", "minimum": 0},
                                          "samples": {"type": "array",
                                                      "items": {"type": "number", "minimum": 0}}}},
                "speedup": {"type": "object", "required": ["value", "ci95", "baseline"]},
                "throughput": {"type": "object", "required": ["value", "unit"],
                               "properties": {"value": {"type": "number"},
                                              "unit": {"type": "string"}}},
                "bound": {"type": "number", "exclusiveMinimum": 0},
            }}},
    },
}


@dataclass
class Run:
    """One loaded input. `path` is the file as the user should see it in messages."""
    path: str
    format: str  # SUMMARY or GBENCH
    doc: dict

    @property
    def schema_version(self):
        return self.doc.get("schema_version") if self.format == SUMMARY else None


def _one_line(text, limit=300):
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def resolve_input(path):
    """A file path, or a folder holding summary.json (preferred) or benchmark.json."""
    p = Path(path)
    if p.is_dir():
        for name in (SUMMARY_FILE, GBENCH_FILE):
            if (p / name).is_file():
                return str(p / name)
        raise CvpError(f"{path}: folder holds neither {SUMMARY_FILE} nor {GBENCH_FILE}")
    return str(path)


def _not_unicode(text):
    """True for a string no UTF-8 writer can write: JSON's \\ud800 escapes decode to lone
    surrogates, which then fail in every chart, page or file that shows them."""
    try:
        text.encode("utf-8")
        return False
    except UnicodeEncodeError:
        return True


def _depth(value, bad_strings=None):
    """Deepest nesting of containers in a parsed document, iteratively (no recursion limit).
    Strings (keys too) that are not valid Unicode are appended to `bad_strings`."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children = node.values()
            if bad_strings is not None:
                bad_strings.extend(k for k in node if _not_unicode(k))
        elif isinstance(node, list):
            children = node
        else:
            if bad_strings is not None and isinstance(node, str) and _not_unicode(node):
                bad_strings.append(node)
            continue
        deepest = max(deepest, depth)
        if deepest > MAX_DEPTH:
            return deepest
        stack.extend((child, depth + 1) for child in children)
    return deepest


class _Constants:
    """Accepts NaN/Infinity while parsing (Google Benchmark writes them in counters) and
    remembers the first one, so that summaries, which must be strict JSON, can be refused."""

    def __init__(self):
        self.first = None

    def __call__(self, name):
        self.first = self.first or name
        return float(name)


def read_json(path, max_bytes=None, max_depth=None):
    """Parse one JSON file with size and depth limits; CvpError names the file and the problem."""
    max_bytes = MAX_BYTES if max_bytes is None else max_bytes
    max_depth = MAX_DEPTH if max_depth is None else max_depth
    try:
        size = os.stat(path).st_size
    except FileNotFoundError:
        raise CvpError(f"{path}: no such file or folder") from None
    except OSError as e:
        raise CvpError(f"{path}: cannot read ({e.strerror})") from None
    if not os.path.isfile(path):
        raise CvpError(f"{path}: not a regular file")
    if size > max_bytes:
        raise CvpError(f"{path}: too large ({size} bytes; the limit is {max_bytes} bytes)")
    try:
        with open(path, "rb") as f:
            raw = f.read(max_bytes + 1)
    except OSError as e:
        raise CvpError(f"{path}: cannot read ({e.strerror})") from None
    if len(raw) > max_bytes:
        raise CvpError(f"{path}: too large (over {max_bytes} bytes)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise CvpError(f"{path}: not UTF-8 text (byte {e.start})") from None
    if not text.strip():
        raise CvpError(f"{path}: empty file")
    constants = _Constants()
    try:
        doc = json.loads(text, parse_constant=constants)
    except json.JSONDecodeError as e:
        raise CvpError(f"{path}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})") from None
    except ValueError as e:  # e.g. an integer longer than Python converts (4300 digits)
        raise CvpError(f"{path}: not a usable JSON document ({_one_line(str(e), 120)})") from None
    except RecursionError:
        raise CvpError(f"{path}: nesting deeper than {max_depth} levels") from None
    bad_strings = []
    if _depth(doc, bad_strings) > max_depth:
        raise CvpError(f"{path}: nesting deeper than {max_depth} levels")
    if bad_strings:
        shown = bad_strings[0].encode("utf-8", "backslashreplace").decode("ascii", "replace")
        raise CvpError(f"{path}: a string that is not valid Unicode (a lone surrogate escape "
                       f"such as \\ud800): {_one_line(repr(shown), 60)}")
    if constants.first and isinstance(doc, dict) and "schema_version" in doc:
        raise CvpError(f"{path}: not valid JSON ({constants.first} is not valid JSON; a summary "
                       f"must be strict JSON)")
    return doc


_schema_cache = {}


def summary_schema():
    """The contract's JSON Schema: $CVP_SCHEMA, else the repository's file, else the core fields."""
    where = os.environ.get("CVP_SCHEMA") or str(_SCHEMA_PATH)
    if where not in _schema_cache:
        if os.path.exists(where) or os.environ.get("CVP_SCHEMA"):
            _schema_cache[where] = read_json(where)
        else:
            _schema_cache[where] = _FALLBACK_SCHEMA
    return _schema_cache[where]


# --- a small validator for the JSON Schema keywords the contract uses -------------------------

_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool)
    or isinstance(v, float) and v.is_integer(),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
}


def _resolve_ref(root, ref):
    if not ref.startswith("#/"):
        raise CvpError(f"schema: unsupported $ref {ref!r}")
    node = root
    for part in ref[2:].split("/"):
        node = node[part]
    return node


def _builtin_errors(schema, value, root, path):
    """Yield (path, message) for the first problems found; messages follow jsonschema's wording."""
    if "$ref" in schema:
        yield from _builtin_errors(_resolve_ref(root, schema["$ref"]), value, root, path)
    if "const" in schema and value != schema["const"]:
        yield path, f"{schema['const']!r} was expected"
        return
    if "enum" in schema and value not in schema["enum"]:
        yield path, f"{value!r} is not one of {schema['enum']!r}"
        return
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_TYPES[t](value) for t in types):
            yield path, f"{value!r} is not of type {', '.join(repr(t) for t in types)}"
            return
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            yield path, f"{value!r} is less than the minimum of {schema['minimum']!r}"
        if "maximum" in schema and value > schema["maximum"]:
            yield path, f"{value!r} is greater than the maximum of {schema['maximum']!r}"
        if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
            yield path, (f"{value!r} is less than or equal to the minimum of "
                         f"{schema['exclusiveMinimum']!r}")
    if isinstance(value, str) and len(value) < schema.get("minLength", 0):
        yield path, f"{value!r} is too short"
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                yield path, f"{key!r} is a required property"
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in props:
                yield from _builtin_errors(props[key], item, root, path + [key])
            elif extra is False:
                yield path, f"Additional properties are not allowed ({key!r} was unexpected)"
            elif isinstance(extra, dict):
                yield from _builtin_errors(extra, item, root, path + [key])
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            yield path, f"{value!r} should be non-empty" if schema["minItems"] == 1 \
                else f"{value!r} is too short"
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            yield path, f"{value!r} is too long"
        if isinstance(schema.get("items"), dict):
            for i, item in enumerate(value):
                yield from _builtin_errors(schema["items"], item, root, path + [i])


def _pointer(path):
    return "/" + "/".join(str(p) for p in path) if path else "the top level"


def schema_problem(doc, schema=None, builtin=False):
    """The first way `doc` breaks the summary schema, as one line, or None when it conforms.
    builtin: use the built-in validator even where jsonschema is importable (same schema,
    four times faster: for bulk reads such as a database import)."""
    schema = summary_schema() if schema is None else schema
    if jsonschema is not None and not builtin:
        cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
        error = jsonschema.exceptions.best_match(cls(schema).iter_errors(doc))
        if error is None:
            return None
        return f"at {_pointer(list(error.absolute_path))}: {_one_line(error.message, 200)}"
    for path, message in _builtin_errors(schema, doc, schema, []):
        return f"at {_pointer(path)}: {_one_line(message, 200)}"
    return None


# Rows Google Benchmark adds for Complexity(): fitted coefficients, not times.
COMPLEXITY_AGGREGATES = ("BigO", "RMS")


def is_complexity_row(row):
    return row.get("aggregate_name") in COMPLEXITY_AGGREGATES or "big_o" in row or "rms" in row


def printable(text):
    """Text for a terminal, on one line: text.visible (control, escape, bidirectional and
    line-separator characters written \\uXXXX, never sent as they are)."""
    return visible(text)


def display_path(path):
    """`path` as text any writer can print: bytes of a file name that are not UTF-8 (which
    Python keeps as surrogate escapes) become \\xNN."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _check_gbench(path, doc):
    benchmarks = doc.get("benchmarks")
    if not isinstance(benchmarks, list):
        raise CvpError(f"{path}: Google Benchmark JSON without a 'benchmarks' list")
    for i, b in enumerate(benchmarks):
        if not isinstance(b, dict):
            raise CvpError(f"{path}: benchmarks[{i}] is not an object")
        for key in ("name", "run_name", "run_type", "aggregate_name", "time_unit", "big_o"):
            if key in b and not isinstance(b[key], str):
                raise CvpError(f"{path}: benchmarks[{i}] has a '{key}' that is not a string")
        if "error_occurred" in b and not isinstance(b["error_occurred"], bool):
            raise CvpError(f"{path}: benchmarks[{i}] has an 'error_occurred' that is not true "
                           f"or false")
        if b.get("error_occurred") or is_complexity_row(b):
            continue
        if not isinstance(b.get("name"), str):
            raise CvpError(f"{path}: benchmarks[{i}] has no 'name' string")
        for key in ("real_time", "cpu_time"):
            v = b.get(key)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not 0 <= v < math.inf:
                raise CvpError(f"{path}: benchmarks[{i}] ({b['name']}) has no valid '{key}'")
        if b.get("time_unit", "ns") not in ("ns", "us", "ms", "s"):
            raise CvpError(f"{path}: benchmarks[{i}] ({b['name']}) has unknown time_unit "
                           f"{_one_line(repr(b.get('time_unit')), 40)}")


def check_document(path, doc, builtin=False):
    """Classify a parsed document as SUMMARY or GBENCH and validate it; returns the format."""
    if not isinstance(doc, dict):
        kind = "a list" if isinstance(doc, list) else type(doc).__name__
        raise CvpError(f"{path}: not a cvpbench summary or Google Benchmark JSON "
                       f"(the top level is {kind}, not an object)")
    if "schema_version" in doc:
        version = doc["schema_version"]
        if version not in SUPPORTED_SCHEMA_VERSIONS or isinstance(version, bool):
            supported = ", ".join(str(v) for v in SUPPORTED_SCHEMA_VERSIONS)
            raise CvpError(f"{path}: schema_version {_one_line(repr(version), 40)} is not supported "
                           f"(this cvp reads version {supported})")
        problem = schema_problem(doc, builtin=builtin)
        if problem:
            raise CvpError(f"{path}: does not match the summary schema {problem}")
        return SUMMARY
    if "benchmarks" in doc and "context" in doc:
        _check_gbench(path, doc)
        return GBENCH
    raise CvpError(f"{path}: not a cvpbench summary (no schema_version) "
                   f"nor Google Benchmark JSON (no context/benchmarks)")


def load_run(path, builtin=False):
    """Load and validate one file or folder (builtin: see schema_problem)."""
    resolved = resolve_input(path)
    shown = display_path(resolved)
    try:
        doc = read_json(resolved)
    except CvpError as e:
        raise CvpError(display_path(str(e))) from None
    return Run(path=shown, format=check_document(shown, doc, builtin), doc=doc)


def load_runs(paths, formats=(SUMMARY, GBENCH), same_format=False):
    """Load several inputs; refuse mixed schema versions and (optionally) mixed formats."""
    runs = [load_run(p) for p in paths]
    for run in runs:
        if run.format not in formats:
            if run.format == GBENCH:
                raise CvpError(f"{run.path}: is raw Google Benchmark JSON; this command reads "
                               f"cvpbench summaries ({SUMMARY_FILE})")
            raise CvpError(f"{run.path}: is a cvpbench summary; this command reads Google "
                           f"Benchmark JSON")
    versions = {r.schema_version for r in runs if r.format == SUMMARY}
    if len(versions) > 1:
        first = runs[0]
        other = next(r for r in runs if r.schema_version != first.schema_version)
        raise CvpError(f"{other.path}: schema_version {other.schema_version} mixed with "
                       f"schema_version {first.schema_version} in {first.path}")
    if same_format and len({r.format for r in runs}) > 1:
        first = runs[0]
        other = next(r for r in runs if r.format != first.format)
        raise CvpError(f"{other.path}: mixes {other.format} and {first.format} inputs "
                       f"(first was {first.path}); compare like with like")
    return runs


# --- output ------------------------------------------------------------------------------------

def check_writable(paths, force):
    """Refuse before writing anything when an output exists and --force was not given, when
    it is anything but a regular file (a link, a device, a pipe: --force replaces files, it
    never turns /dev/null or a link into one)."""
    for p in paths:
        if os.path.lexists(p):
            if os.path.isdir(p) and not os.path.islink(p):
                raise CvpError(f"{p}: is a folder; give a file name")
            if os.path.islink(p) or not os.path.isfile(p):
                what = "a symbolic link" if os.path.islink(p) else "not a regular file"
                raise CvpError(f"{p}: is {what}; give a new file name ('-' writes to standard "
                               f"output); nothing was written")
            if not force:
                raise CvpError(f"{p}: already exists (use --force to overwrite)")


def _default_mode():
    """The permissions a plain new file gets here (0666 less the umask): mkstemp's are 0600."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def write_outputs(files, force):
    """Write {path: bytes} atomically: each goes to a temporary file in its folder, then
    os.replace. All paths are checked first; on failure the files created here are removed."""
    check_writable(files, force)
    created = []
    try:
        for path, data in files.items():
            folder = os.path.dirname(os.path.abspath(path))
            existed = os.path.exists(path)
            fd, tmp = tempfile.mkstemp(prefix=".cvp-", suffix=".tmp", dir=folder)
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                os.chmod(tmp, _default_mode())
                if force and existed:
                    os.replace(tmp, path)
                else:
                    # Without --force nothing may be replaced, also a file that appeared at
                    # `path` after the check: a hard link refuses an existing name.
                    try:
                        os.link(tmp, path)
                    except FileExistsError:
                        raise CvpError(f"{path}: appeared while it was being written; "
                                       f"nothing was replaced") from None
                    os.unlink(tmp)
            except BaseException:
                if os.path.exists(tmp):
                    os.unlink(tmp)
                raise
            if not existed:
                created.append(path)
    except CvpError:
        for p in created:
            os.unlink(p)
        raise
    except OSError as e:
        for p in created:
            os.unlink(p)
        raise CvpError(f"{path}: cannot write ({e.strerror})") from None


# The folders make_folder made in this process, outermost first: a command that fails removes
# them again (remove_made_folders), so that it leaves no empty folder behind.
_made_folders = []


def make_folder(path):
    """Make the folder `path` and its missing parents. Each folder this call creates itself
    (not one that existed, or that another process made meanwhile) is remembered for
    remove_made_folders."""
    missing = []
    at = os.path.abspath(path)
    while not os.path.lexists(at):
        missing.append(at)
        parent = os.path.dirname(at)
        if parent == at:
            break
        at = parent
    for folder in reversed(missing):  # outermost first
        try:
            os.mkdir(folder)
        except FileExistsError:
            continue
        except OSError as e:
            raise CvpError(f"{path}: cannot create folder ({e.strerror})") from None
        _made_folders.append(folder)
    if not os.path.isdir(path):
        raise CvpError(f"{path}: not a folder")


def remove_made_folders():
    """Remove the folders make_folder made, innermost first, where they are still empty: what
    a failed command made for its outputs, and nothing else (a folder that holds a file, the
    command's or anyone's, stays)."""
    while _made_folders:
        try:
            os.rmdir(_made_folders.pop())
        except OSError:
            pass
